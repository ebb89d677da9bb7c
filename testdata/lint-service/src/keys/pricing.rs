pub const GET: &str = "pricing.Get";
