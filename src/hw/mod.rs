//! Out-of-band hardware control: the BMC protocol, where each node's BMC is, and the fan-out engine
//! that drives thousands of BMCs at once.

pub mod bmc;
pub mod fanout;
pub mod ipmi;
pub mod ops;
