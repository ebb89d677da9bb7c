use wasmtime::{Engine, Func, Instance, Module, Store, TypedFunc};

pub fn run(engine: &Engine, module: &Module) -> anyhow::Result<i32> {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[])?;
    let func: Func = instance.get_func(&mut store, "run").expect("exported");
    let mut results = [wasmtime::Val::I32(0)];
    func.call(&mut store, &[wasmtime::Val::I32(1)], &mut results)?;
    let typed: TypedFunc<i32, i32> = instance.get_typed_func(&mut store, "double")?;
    let doubled = typed.call(&mut store, 3)?;
    Ok(doubled + results[0].unwrap_i32())
}
