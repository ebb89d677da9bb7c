use mlua::{Function, Lua};
use pyo3::prelude::*;

pub fn lua(lua: &Lua) -> mlua::Result<i32> {
    lua.load("print('hello')").call::<()>(())?;
    let add: Function = lua.globals().get("add")?;
    add.call::<i32>((1, 2))
}

pub fn python(py: Python<'_>, callable: &Bound<'_, PyAny>) -> PyResult<()> {
    callable.call((1,), None)?;
    callable.call1(("users.48213",))?;
    let _ = py.eval(c"1 + 1", None, None)?;
    Ok(())
}
