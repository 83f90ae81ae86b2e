//! A planner hook that refuses a NULL subject of `mkt.decide` on a Citus catalog before Citus
//! routes the call (Citus 13 crashes hashing a NULL distribution argument).

use crate::pg::citus::{catalog_distributed, NULL_SUBJECT};
use crate::pg::error::{raise, report};
use mkt_core::Error;
use pgrx::pg_sys;

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;

/// Installs the planner guard (from `_PG_init`, once per backend). Citus routes a call of a
/// function distributed by a text argument by hashing the argument's value while planning; a
/// NULL there crashes the backend (Citus 13). The guard runs before Citus' planner (pg_marketing
/// is loaded after citus) and turns a NULL subject of a routed `mkt.decide` into an ERROR.
pub fn install() {
    // SAFETY: hooks are chained once, from _PG_init, on the main thread.
    unsafe {
        PREV_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(guarded_planner);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn guarded_planner(
    parse: *mut pg_sys::Query,
    query_string: *const std::ffi::c_char,
    cursor_options: std::ffi::c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    // SAFETY: `parse` is the analyzed query the planner was called with.
    if unsafe { calls_decide_with_null_subject(parse, bound_params) }
        && catalog_distributed().unwrap_or(false)
    {
        raise(report(Error::NullValue(NULL_SUBJECT.to_string())));
    }
    // SAFETY: the previous hook (Citus') or the standard planner, with the caller's arguments.
    unsafe {
        match PREV_PLANNER {
            Some(prev) => prev(parse, query_string, cursor_options, bound_params),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    }
}

/// Whether the query's target list or FROM list (where Citus looks for calls to route) calls
/// mkt.decide with a NULL subject: a NULL constant, or a parameter bound to NULL (Citus
/// substitutes the values of a prepared statement's parameters before routing).
unsafe fn calls_decide_with_null_subject(
    parse: *mut pg_sys::Query,
    bound: pg_sys::ParamListInfo,
) -> bool {
    use pgrx::{is_a, PgList};
    // SAFETY (whole body): reads of the planner's node trees, which are well-formed.
    unsafe {
        let q = &*parse;
        let mut calls: Vec<*mut pg_sys::Node> = Vec::new();
        for te in PgList::<pg_sys::TargetEntry>::from_pg(q.targetList).iter_ptr() {
            calls.push((*te).expr.cast());
        }
        for rte in PgList::<pg_sys::RangeTblEntry>::from_pg(q.rtable).iter_ptr() {
            if (*rte).rtekind == pg_sys::RTEKind::RTE_FUNCTION {
                for f in PgList::<pg_sys::RangeTblFunction>::from_pg((*rte).functions).iter_ptr() {
                    calls.push((*f).funcexpr);
                }
            }
        }
        calls.into_iter().any(|node| {
            if node.is_null() || !is_a(node, pg_sys::NodeTag::T_FuncExpr) {
                return false;
            }
            let f = node.cast::<pg_sys::FuncExpr>();
            if !is_decide((*f).funcid) {
                return false;
            }
            // Arguments may be named (in any order); a subject left out takes its default, NULL
            // (Citus fills in defaults and orders named arguments itself).
            let mut subject = None;
            for (i, a) in PgList::<pg_sys::Node>::from_pg((*f).args).iter_ptr().enumerate() {
                if !a.is_null() && is_a(a, pg_sys::NodeTag::T_NamedArgExpr) {
                    let named = a.cast::<pg_sys::NamedArgExpr>();
                    if (*named).argnumber == 2 {
                        subject = Some((*named).arg.cast::<pg_sys::Node>());
                    }
                } else if i == 2 {
                    subject = Some(a);
                }
            }
            match subject.map(|a| pg_sys::strip_implicit_coercions(a)) {
                None => true,
                Some(s) if s.is_null() => false,
                Some(s) if is_a(s, pg_sys::NodeTag::T_Const) => {
                    (*s.cast::<pg_sys::Const>()).constisnull
                }
                Some(s) if is_a(s, pg_sys::NodeTag::T_Param) => {
                    let p = &*s.cast::<pg_sys::Param>();
                    p.paramkind == pg_sys::ParamKind::PARAM_EXTERN && bound_is_null(bound, p.paramid)
                }
                Some(_) => false,
            }
        })
    }
}

/// Whether parameter `id` (1-based) is bound, and to NULL.
unsafe fn bound_is_null(bound: pg_sys::ParamListInfo, id: i32) -> bool {
    // SAFETY (whole body): `bound` is the planner's parameter list or NULL; ids are 1-based.
    unsafe {
        if bound.is_null() || id < 1 || id > (*bound).numParams {
            return false;
        }
        let mut workspace = pg_sys::ParamExternData::default();
        let data = match (*bound).paramFetch {
            Some(fetch) => fetch(bound, id, true, &mut workspace),
            None => (*bound).params.as_mut_ptr().add(id as usize - 1),
        };
        !data.is_null() && (*data).isnull && (*data).ptype != pg_sys::InvalidOid
    }
}

fn is_decide(funcid: pg_sys::Oid) -> bool {
    // SAFETY: syscache lookups of an existing function, on the main thread.
    unsafe {
        let name = pg_sys::get_func_name(funcid);
        if name.is_null() || std::ffi::CStr::from_ptr(name).to_bytes() != b"decide" {
            return false;
        }
        let nsp = pg_sys::get_namespace_name(pg_sys::get_func_namespace(funcid));
        !nsp.is_null() && std::ffi::CStr::from_ptr(nsp).to_bytes() == b"mkt"
    }
}
