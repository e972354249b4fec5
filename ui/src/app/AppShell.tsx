import { Suspense } from 'react';
import { Navigate, Outlet, useLocation, useNavigate } from 'react-router';
import {
  Bullseye,
  Button,
  Label,
  Masthead,
  MastheadBrand,
  MastheadContent,
  MastheadLogo,
  MastheadMain,
  MastheadToggle,
  Nav,
  NavItem,
  NavList,
  Page,
  PageSidebar,
  PageSidebarBody,
  PageToggleButton,
  SkipToContent,
  Spinner,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
} from '@patternfly/react-core';
import BarsIcon from '@patternfly/react-icons/dist/esm/icons/bars-icon';
import UserIcon from '@patternfly/react-icons/dist/esm/icons/user-icon';
import { loginPath, roleAllows, useAuth } from './auth';
import { isActivePath, navEntries } from './nav';
import { ErrorBoundary } from './ErrorBoundary';

const mainId = 'quantix-main';

export function PageLoading() {
  return (
    <Bullseye>
      <Spinner aria-label="Loading page" />
    </Bullseye>
  );
}

/**
 * The console's frame for every page but the login: the masthead (brand,
 * the user and their role, logout) and the sidebar with the pages the user's
 * role may see. Sends a caller who is not logged in to /login.
 */
export function AppShell() {
  const { me, loading, logout } = useAuth();
  const location = useLocation();
  const navigate = useNavigate();

  if (loading) return <PageLoading />;
  if (!me) return <Navigate to={loginPath(location.pathname + location.search + location.hash)} replace />;

  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadToggle>
          <PageToggleButton isHamburgerButton aria-label="Main navigation">
            <BarsIcon />
          </PageToggleButton>
        </MastheadToggle>
        <MastheadBrand>
          <MastheadLogo
            href="/"
            onClick={(e: React.MouseEvent) => {
              e.preventDefault();
              navigate('/');
            }}
          >
            <span className="quantix-brand">Quantix</span>
          </MastheadLogo>
        </MastheadBrand>
      </MastheadMain>
      <MastheadContent>
        <Toolbar isFullHeight isStatic>
          <ToolbarContent>
            <ToolbarGroup align={{ default: 'alignEnd' }} gap={{ default: 'gapMd' }} alignItems="center">
              <ToolbarItem>
                <span className="quantix-user" aria-label={`Logged in as ${me.user}`}>
                  <UserIcon /> {me.user}
                </span>
              </ToolbarItem>
              <ToolbarItem>
                <Label color="blue" aria-label={`Role: ${me.role}`}>
                  {me.role}
                </Label>
              </ToolbarItem>
              <ToolbarItem>
                <Button variant="secondary" size="sm" onClick={() => void logout()}>
                  Log out
                </Button>
              </ToolbarItem>
            </ToolbarGroup>
          </ToolbarContent>
        </Toolbar>
      </MastheadContent>
    </Masthead>
  );

  const sidebar = (
    <PageSidebar>
      <PageSidebarBody>
        <Nav aria-label="Pages">
          <NavList>
            {navEntries
              .filter((e) => !e.role || roleAllows(me.role, e.role))
              .map((e) => (
                <NavItem
                  key={e.path}
                  itemId={e.path}
                  to={e.path}
                  isActive={isActivePath(e.path, location.pathname)}
                  onClick={(ev) => {
                    ev.preventDefault();
                    navigate(e.path);
                  }}
                >
                  {e.label}
                </NavItem>
              ))}
          </NavList>
        </Nav>
      </PageSidebarBody>
    </PageSidebar>
  );

  return (
    <Page
      masthead={masthead}
      sidebar={sidebar}
      isManagedSidebar
      mainContainerId={mainId}
      skipToContent={<SkipToContent href={`#${mainId}`}>Skip to content</SkipToContent>}
    >
      <ErrorBoundary key={location.pathname}>
        <Suspense fallback={<PageLoading />}>
          <Outlet />
        </Suspense>
      </ErrorBoundary>
    </Page>
  );
}
