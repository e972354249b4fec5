import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from 'react-router';
import '@patternfly/react-core/dist/styles/base.css';
import './app/app.css';
import { makeQueryClient } from './app/queryClient';
import { makeRouter, preloadRoute } from './app/routes';
import { startUILogging } from './logging/start';

// Before anything renders, so that an error of the first render is logged.
startUILogging();

const queryClient = makeQueryClient();
const router = makeRouter();
preloadRoute(window.location.pathname, queryClient);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
