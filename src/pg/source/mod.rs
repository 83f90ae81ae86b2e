//! Reading and writing user data: a `source` argument (table, view or SELECT) resolved safely,
//! described, streamed into columnar buffers, and results written to new tables.

mod columns;
mod read;
mod resolve;
mod write;

pub use columns::{check_number, check_time, describe, find, find_exact, id_kind, ColKind, Column};
pub use read::{read_columnar, read_columns, read_pairs, ColumnData, PairSpec, Target, Want};
pub use resolve::{check_single_select, read_only, resolve, Resolved};
pub use write::{create_table_as, drop_temp, readable_from};
