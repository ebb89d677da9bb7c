//! Every key this service calls, in one place.

pub mod inventory;
pub mod pricing;

pub const CHARGE: &str = "payments.Charge";
pub const LEGACY: &str = "Legacy";
