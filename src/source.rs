//! Reading user data: resolving a `source` (table, view or SELECT) safely and streaming its columns
//! through SPI into columnar buffers.

use crate::error::{OrSql, SqlResult};
use mkt_core::ids::{IdColumn, IdKind};
use mkt_core::names::{parse_source, quote_ident, quote_literal, quote_shown, Source};
use mkt_core::Error;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{PgList, PgMemoryContexts};

/// A source made safe to splice after `FROM`.
pub struct Resolved {
    pub from: String,
    /// A table (or materialized view, foreign table): reading it runs no user code. Views and
    /// queries may call functions, so they are only ever run with the transaction read-only.
    pub stored: bool,
}

pub fn resolve(source: &str) -> SqlResult<Resolved> {
    match parse_source(source).sql()? {
        Source::Relation(name) => {
            let quoted = name.quoted();
            let found = crate::catalog::select_first::<String>(
                "SELECT c.relkind::text FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
                &[quoted.as_str().into()],
            )?;
            match found.as_deref() {
                None => Err(Error::UndefinedTable(format!(
                    "relation {} does not exist",
                    quote_literal(source)
                )))
                .sql(),
                Some(kind @ ("r" | "v" | "m" | "p" | "f")) => Ok(Resolved {
                    from: quoted,
                    stored: kind != "v",
                }),
                Some(_) => Err(Error::NotASelect(format!(
                    "{} is not a table, view or materialized view",
                    quote_literal(source)
                )))
                .sql(),
            }
        }
        Source::Query(q) => {
            check_single_select(&q)?;
            Ok(Resolved {
                from: format!("(\n{q}\n) AS mkt_source"),
                stored: false,
            })
        }
    }
}

/// A query source must be exactly one plain SELECT: no other statement, no SELECT INTO, no row
/// locks and no data-modifying WITH. (Writes hidden in functions are stopped by `read_only`.)
pub fn check_single_select(q: &str) -> SqlResult<()> {
    let not_select = |why: &str| {
        Err(Error::NotASelect(format!(
            "a query source must be a single SELECT: {why}"
        )))
        .sql()
    };
    let cq = std::ffi::CString::new(q)
        .map_err(|_| crate::error::invalid("query contains a NUL byte"))?;
    // SAFETY: raw_parser only reads the string and returns a palloc'd list (or raises an ERROR).
    let list = unsafe { pg_sys::raw_parser(cq.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT) };
    let stmts = unsafe { PgList::<pg_sys::RawStmt>::from_pg(list) };
    if stmts.len() != 1 {
        return not_select(&format!("found {} statements", stmts.len()));
    }
    let raw = stmts.get_ptr(0).unwrap();
    // SAFETY: the parser returns valid RawStmt nodes.
    unsafe {
        let node = (*raw).stmt;
        if (*node).type_ != pg_sys::NodeTag::T_SelectStmt {
            return not_select("it is another kind of statement");
        }
        let sel = node as *mut pg_sys::SelectStmt;
        if !(*sel).intoClause.is_null() {
            return not_select("SELECT INTO creates a table");
        }
        if !(*sel).lockingClause.is_null() {
            return not_select("FOR UPDATE/SHARE locks rows");
        }
        if !(*sel).withClause.is_null() {
            let ctes = PgList::<pg_sys::CommonTableExpr>::from_pg((*(*sel).withClause).ctes);
            for cte in ctes.iter_ptr() {
                let q = (*cte).ctequery;
                if !q.is_null() && (*q).type_ != pg_sys::NodeTag::T_SelectStmt {
                    return not_select("WITH holds a data-modifying statement");
                }
            }
        }
    }
    Ok(())
}

/// Runs `f` with the transaction marked read-only, so nothing a source query calls can write.
pub fn read_only<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: a plain global of the backend, touched on its main thread.
    let before = unsafe { pg_sys::XactReadOnly };
    unsafe { pg_sys::XactReadOnly = true };
    let out = PgTryBuilder::new(std::panic::AssertUnwindSafe(f))
        .finally(|| unsafe { pg_sys::XactReadOnly = before })
        .execute();
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColKind {
    Id(IdKind),
    Number,
    Time,
    Other,
}

pub struct Column {
    pub name: String,
    pub type_name: String,
    pub kind: ColKind,
}

fn kind_of(oid: pg_sys::Oid) -> ColKind {
    match oid {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => ColKind::Id(IdKind::Int),
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID | pg_sys::UUIDOID => {
            ColKind::Id(IdKind::Text)
        }
        pg_sys::FLOAT4OID | pg_sys::FLOAT8OID | pg_sys::NUMERICOID => ColKind::Number,
        pg_sys::TIMESTAMPTZOID | pg_sys::TIMESTAMPOID | pg_sys::DATEOID => ColKind::Time,
        _ => ColKind::Other,
    }
}

/// Column names and kinds of a resolved source (runs it with LIMIT 0).
pub fn describe(src: &Resolved) -> SqlResult<Vec<Column>> {
    let sql = format!("SELECT * FROM {} LIMIT 0", src.from);
    read_only(|| {
        Spi::connect(|c| {
            let t = c.select(&sql, None, &[])?;
            let mut cols = Vec::new();
            for i in 1..=t.columns()? {
                let oid = t.column_type_oid(i)?.value();
                // SAFETY: format_type_be returns a palloc'd C string for any type oid.
                let type_name = unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(oid)) }
                    .to_string_lossy()
                    .into_owned();
                cols.push(Column {
                    name: t.column_name(i)?,
                    type_name,
                    kind: kind_of(oid),
                });
            }
            Ok::<_, pgrx::spi::Error>(cols)
        })
    })
    .sql()
}

/// Finds a column by exact name, else case-insensitively; the error lists what exists.
pub fn find<'a>(cols: &'a [Column], name: &str, role: &str) -> SqlResult<&'a Column> {
    cols.iter()
        .find(|c| c.name == name)
        .or_else(|| cols.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
        .ok_or_else(|| {
            let have: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
            crate::error::report(Error::UndefinedColumn(format!(
                "{role} column {} does not exist in the source; its columns are: {}",
                quote_shown(name),
                have.join(", ")
            )))
        })
}

/// Finds a column by its exact name (for names that end up in generated code or output column
/// names); a name that matches only case-insensitively is an error that says so.
pub fn find_exact<'a>(cols: &'a [Column], name: &str, role: &str) -> SqlResult<&'a Column> {
    let col = find(cols, name, role)?;
    if col.name != name {
        return Err(Error::UndefinedColumn(format!(
            "{role} column {} does not exist in the source (did you mean {}?)",
            quote_shown(name),
            quote_literal(&col.name)
        )))
        .sql();
    }
    Ok(col)
}

pub fn id_kind(col: &Column, role: &str) -> SqlResult<IdKind> {
    match col.kind {
        ColKind::Id(k) => Ok(k),
        _ => Err(Error::WrongType(format!(
            "{role} column {} has type {}; ids must be an integer or text type",
            quote_literal(&col.name),
            col.type_name
        )))
        .sql(),
    }
}

/// A time column: a timestamp, date or number (seconds).
pub fn check_time(col: &Column, role: &str) -> SqlResult<()> {
    check_kind(col, role, true, "a timestamp, a date or a number of seconds")
}

pub fn check_number(col: &Column, role: &str) -> SqlResult<()> {
    check_kind(col, role, false, "numeric")
}

/// Numbers (and integer ids) pass, and times where `time_ok`; anything else is WrongType.
fn check_kind(col: &Column, role: &str, time_ok: bool, wanted: &str) -> SqlResult<()> {
    match col.kind {
        ColKind::Number | ColKind::Id(IdKind::Int) => Ok(()),
        ColKind::Time if time_ok => Ok(()),
        _ => Err(Error::WrongType(format!(
            "{role} column {} has type {}; it must be {wanted}",
            quote_literal(&col.name),
            col.type_name
        )))
        .sql(),
    }
}

/// What to read: two id columns and optionally a weight and a time.
pub struct PairSpec<'a> {
    pub user: (&'a str, IdKind),
    pub item: (&'a str, IdKind),
    pub weight: Option<&'a str>,
    /// A timestamp, date or numeric column, read as seconds.
    pub time: Option<&'a Column>,
}

pub struct Pairs {
    pub users: IdColumn,
    pub items: IdColumn,
    pub weights: Vec<f64>,
    /// Empty unless a time column was read.
    pub times: Vec<f64>,
    /// Rows skipped because an id (or the weight) was NULL.
    pub skipped_nulls: u64,
}

fn cast(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Int => "int8",
        IdKind::Text => "text",
    }
}

unsafe fn push_id(col: &mut IdColumn, datum: pg_sys::Datum) {
    match col {
        IdColumn::Int(v) => v.push(datum.value() as i64),
        IdColumn::Text(v) => {
            let s = <&str>::from_datum(datum, false).unwrap_or_default();
            v.push(s.to_string());
        }
    }
}

/// Receives the rows of the pairs query straight from the executor's slots: no tuple is copied
/// into an SPI table, which roughly halves the cost of a read. The executor checks for interrupts
/// as it scans, so a long read stays cancellable.
#[repr(C)]
struct PairReceiver {
    /// Must come first: the executor sees a plain DestReceiver.
    base: pg_sys::DestReceiver,
    out: *mut Pairs,
    has_w: bool,
    has_t: bool,
    /// Holds detoasted text ids between resets.
    scratch: pg_sys::MemoryContext,
    since_reset: u32,
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_pair(
    slot: *mut pg_sys::TupleTableSlot,
    dest: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: `dest` is the PairReceiver read_pairs passed to the executor, alive for the call;
    // the slot holds the query's columns, typed by its casts.
    let r = &mut *(dest as *mut PairReceiver);
    let out = &mut *r.out;
    let natts = 2 + r.has_w as i32 + r.has_t as i32;
    if ((*slot).tts_nvalid as i32) < natts {
        pg_sys::slot_getsomeattrs_int(slot, natts);
    }
    let values = std::slice::from_raw_parts((*slot).tts_values, natts as usize);
    let nulls = std::slice::from_raw_parts((*slot).tts_isnull, natts as usize);
    if nulls.iter().any(|&n| n) {
        out.skipped_nulls += 1;
        return true;
    }
    let old = pg_sys::MemoryContextSwitchTo(r.scratch);
    push_id(&mut out.users, values[0]);
    push_id(&mut out.items, values[1]);
    pg_sys::MemoryContextSwitchTo(old);
    if r.has_w {
        out.weights.push(f64::from_bits(values[2].value() as u64));
    }
    if r.has_t {
        out.times.push(f64::from_bits(values[natts as usize - 1].value() as u64));
    }
    r.since_reset += 1;
    if r.since_reset == 4096 {
        pg_sys::MemoryContextReset(r.scratch);
        r.since_reset = 0;
    }
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn receiver_startup(
    _dest: *mut pg_sys::DestReceiver,
    _operation: std::ffi::c_int,
    _desc: pg_sys::TupleDesc,
) {
}

#[pg_guard]
unsafe extern "C-unwind" fn receiver_noop(_dest: *mut pg_sys::DestReceiver) {}

/// Streams the pairs from the executor into columnar buffers.
pub fn read_pairs(src: &Resolved, spec: &PairSpec) -> SqlResult<Pairs> {
    let w = spec
        .weight
        .map(|w| format!(", {}::float8", quote_ident(w)))
        .unwrap_or_default();
    let t = match spec.time {
        None => String::new(),
        Some(c) if c.kind == ColKind::Time => {
            format!(", pg_catalog.date_part('epoch', {})::float8", quote_ident(&c.name))
        }
        Some(c) => format!(", {}::float8", quote_ident(&c.name)),
    };
    let sql = format!(
        "SELECT {}::{}, {}::{}{w}{t} FROM {}",
        quote_ident(spec.user.0),
        cast(spec.user.1),
        quote_ident(spec.item.0),
        cast(spec.item.1),
        src.from
    );
    let mut out = Pairs {
        users: IdColumn::new(spec.user.1),
        items: IdColumn::new(spec.item.1),
        weights: Vec::new(),
        times: Vec::new(),
        skipped_nulls: 0,
    };
    let mut scratch = PgMemoryContexts::new("pg_marketing read");
    let mut receiver = PairReceiver {
        base: pg_sys::DestReceiver {
            receiveSlot: Some(receive_pair),
            rStartup: Some(receiver_startup),
            rShutdown: Some(receiver_noop),
            rDestroy: Some(receiver_noop),
            mydest: pg_sys::CommandDest::DestNone,
        },
        out: &mut out,
        has_w: spec.weight.is_some(),
        has_t: spec.time.is_some(),
        scratch: scratch.value(),
        since_reset: 0,
    };
    let sql_c = std::ffi::CString::new(sql)
        .map_err(|_| crate::error::invalid("the source contains a NUL character".to_string()))?;
    read_only(|| {
        Spi::connect(|_| {
            // SAFETY: inside an SPI connection, on the main thread; the receiver and the buffers
            // it points to outlive the execution, which runs to completion or raises an ERROR.
            unsafe {
                let plan = pg_sys::SPI_prepare(sql_c.as_ptr(), 0, std::ptr::null_mut());
                if plan.is_null() {
                    let code = pg_sys::SPI_result;
                    error!("could not prepare the read of the source: SPI code {code}");
                }
                let options = pg_sys::SPIExecuteOptions {
                    read_only: true,
                    dest: &mut receiver.base,
                    ..Default::default()
                };
                let rc = pg_sys::SPI_execute_plan_extended(plan, &options);
                pg_sys::SPI_freeplan(plan);
                // A SELECT whose rows go to a DestNone receiver reports SPI_OK_UTILITY.
                if rc != pg_sys::SPI_OK_SELECT as i32 && rc != pg_sys::SPI_OK_UTILITY as i32 {
                    error!("reading the source failed: SPI code {rc}");
                }
            }
        })
    });
    // SAFETY: nothing refers to the context any more.
    unsafe { scratch.reset() };
    Ok(out)
}

/// The type one column is read as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Want {
    Float,
    Text,
    Json,
}

/// One column of a source, read in full.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Json(Vec<Option<serde_json::Value>>),
}

impl ColumnData {
    pub fn floats(&self) -> &[Option<f64>] {
        match self {
            ColumnData::Float(v) => v,
            _ => panic!("column was read as float8"),
        }
    }
    pub fn texts(&self) -> &[Option<String>] {
        match self {
            ColumnData::Text(v) => v,
            _ => panic!("column was read as text"),
        }
    }
    pub fn jsons(&self) -> &[Option<serde_json::Value>] {
        match self {
            ColumnData::Json(v) => v,
            _ => panic!("column was read as jsonb"),
        }
    }
}

/// Reads whole columns (cast to float8, text or jsonb) through a cursor, checking for interrupts
/// between batches. For modest sources (decision logs); pairs for training use `read_pairs`.
pub fn read_columns(src: &Resolved, cols: &[(&str, Want)]) -> SqlResult<Vec<ColumnData>> {
    let exprs: Vec<String> = cols
        .iter()
        .map(|(name, want)| {
            let cast = match want {
                Want::Float => "float8",
                Want::Text => "text",
                Want::Json => "jsonb",
            };
            format!("{}::{cast}", quote_ident(name))
        })
        .collect();
    let sql = format!("SELECT {} FROM {}", exprs.join(", "), src.from);
    let mut out: Vec<ColumnData> = cols
        .iter()
        .map(|(_, w)| match w {
            Want::Float => ColumnData::Float(Vec::new()),
            Want::Text => ColumnData::Text(Vec::new()),
            Want::Json => ColumnData::Json(Vec::new()),
        })
        .collect();
    read_only(|| {
        Spi::connect(|c| {
            let mut cursor = c.open_cursor(&sql, &[]);
            loop {
                let table = cursor.fetch(10_000)?;
                if table.is_empty() {
                    break;
                }
                for row in table {
                    for (i, col) in out.iter_mut().enumerate() {
                        match col {
                            ColumnData::Float(v) => v.push(row.get::<f64>(i + 1)?),
                            ColumnData::Text(v) => v.push(row.get::<String>(i + 1)?),
                            ColumnData::Json(v) => {
                                v.push(row.get::<pgrx::JsonB>(i + 1)?.map(|j| j.0))
                            }
                        }
                    }
                }
                pgrx::check_for_interrupts!();
            }
            Ok::<_, pgrx::spi::Error>(())
        })
    })
    .sql()?;
    Ok(out)
}

/// Something to read `src` from inside a statement that writes (CREATE TABLE AS, INSERT ..
/// SELECT), where `read_only` cannot be in force: a table as it is; a view or query first copied
/// into a temporary table with the transaction read-only (temporary tables stay writable), so a
/// function it calls cannot write anywhere else.
pub fn readable_from(src: &Resolved, cols: &[Column]) -> SqlResult<String> {
    if src.stored {
        return Ok(src.from.clone());
    }
    let defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.type_name))
        .collect();
    drop_temp("mkt_source_copy")?;
    Spi::connect_mut(|c| {
        c.update(
            &format!(
                "CREATE TEMP TABLE mkt_source_copy ({}) ON COMMIT DROP",
                defs.join(", ")
            ),
            None,
            &[],
        )
        .map(|_| ())
    })
    .sql()?;
    let fill = format!(
        "INSERT INTO pg_temp.mkt_source_copy SELECT * FROM {}",
        src.from
    );
    read_only(|| Spi::connect_mut(|c| c.update(&fill, None, &[]).map(|_| ()))).sql()?;
    Ok("pg_temp.mkt_source_copy".to_string())
}

/// Creates `target` from `select` (which names no table called `target`); with `replace` an
/// existing table of that name is dropped first, otherwise it is an error (42P07). Returns the
/// number of rows written.
pub fn create_table_as(target: &str, select: &str, replace: bool) -> SqlResult<i64> {
    let name = mkt_core::names::parse_qualified_name(target)
        .sql()?
        .quoted();
    Spi::connect_mut(|c| {
        if replace {
            c.update(&format!("DROP TABLE IF EXISTS {name}"), None, &[])?;
        }
        c.update(&format!("CREATE TABLE {name} AS {select}"), None, &[])?;
        crate::catalog::first::<i64>(c.select(
            &format!("SELECT count(*) FROM {name}"),
            None,
            &[],
        )?)
    })
    .sql()
    .map(|n| n.unwrap_or(0))
}

/// Drops a temporary table of this session if there is one (without DROP IF EXISTS's NOTICE
/// when the session has no temporary schema yet).
pub fn drop_temp(name: &str) -> SqlResult<()> {
    let qualified = format!("pg_temp.{}", quote_ident(name));
    let exists = crate::catalog::select_first::<bool>(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
        &[qualified.as_str().into()],
    )?;
    if exists == Some(true) {
        Spi::connect_mut(|c| {
            c.update(&format!("DROP TABLE {qualified}"), None, &[])
                .map(|_| ())
        })
        .sql()?;
    }
    Ok(())
}
