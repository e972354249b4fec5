// The button the VM pages use for actions; it logs the click through the UI
// logger once that is wired in (one line here).
export { Button as ActionButton } from '@patternfly/react-core';
