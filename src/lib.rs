use pgrx::prelude::*;
::pgrx::pg_module_magic!();
#[pg_extern]
fn hello() -> &'static str {
    "hi"
}
