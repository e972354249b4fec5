// PatternFly's component class names as its own components import them
// (the .mjs module, which also loads the component's CSS); the package
// types only the module without the extension.
declare module '@patternfly/react-styles/css/components/Label/label.mjs' {
  import styles from '@patternfly/react-styles/css/components/Label/label';
  export default styles;
}
