export { default } from './UsersPage';
