//! The time unit of a customer-value model: purchases in the same period count once, and recency,
//! T, horizons and discount rates are in periods. Stored with the model and named in every output,
//! so a CLV never silently mixes days, weeks and months.

use mkt_core::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Monday to Sunday (pandas' "W").
    Week,
    /// Calendar months (pandas' "M").
    Month,
}

impl Period {
    pub const NAMES: [&'static str; 3] = ["day", "week", "month"];

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            _ => Err(Error::unknown("period", name, &Self::NAMES)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The period a day falls in; `day` counts days since 1970-01-01 (a Thursday).
    pub fn of_day(self, day: i64) -> i64 {
        match self {
            Period::Day => day,
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                y * 12 + (m - 1)
            }
        }
    }
}

/// (year, month 1..12, day 1..31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 1970-01-04 is a Sunday, 1970-01-05 a Monday: a new week
        assert_eq!(Period::Week.of_day(3), Period::Week.of_day(0));
        assert_eq!(Period::Week.of_day(4), Period::Week.of_day(0) + 1);
        assert_eq!(Period::Month.of_day(30) + 1, Period::Month.of_day(31));
        assert_eq!(Period::Month.of_day(0), 1970 * 12);
        assert!(Period::parse("fortnight").unwrap_err().to_string().contains("day, week, month"));
    }
}
