export { default } from './LogsPage';
