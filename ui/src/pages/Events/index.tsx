export { default } from './EventsPage';
