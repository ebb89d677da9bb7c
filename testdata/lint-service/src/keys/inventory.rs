pub const GET: &str = "inventory.Get";
pub const RESERVE: &str = "inventory.Reserve";
