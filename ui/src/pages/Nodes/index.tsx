export { default } from './NodesPage';
