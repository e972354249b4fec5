export { default } from './NodeDetailPage';
