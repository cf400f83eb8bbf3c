//! CF conventions shared by every format: time units, calendars, packing,
//! missing values and how coordinate variables are recognised.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use datafusion::common::{DataFusionError, plan_datafusion_err};

use crate::Result;

/// CF packing and missing-value attributes of one variable, as stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packing {
    pub scale_factor: Option<f64>,
    pub add_offset: Option<f64>,
    /// `_FillValue` (in stored units).
    pub fill_value: Option<f64>,
    /// `missing_value` (one or several, in stored units).
    pub missing_values: Vec<f64>,
    /// `valid_min` / `valid_range[0]` (in stored units).
    pub valid_min: Option<f64>,
    /// `valid_max` / `valid_range[1]` (in stored units).
    pub valid_max: Option<f64>,
}

impl Packing {
    /// Whether values are unpacked to floats (`scale_factor` or `add_offset` present).
    pub fn is_packed(&self) -> bool {
        self.scale_factor.is_some() || self.add_offset.is_some()
    }

    /// Whether a stored value is missing (fill, missing_value, outside the valid range, or NaN).
    #[inline]
    pub fn is_missing(&self, raw: f64) -> bool {
        if raw.is_nan() {
            return true;
        }
        if self.fill_value == Some(raw) || self.missing_values.contains(&raw) {
            return true;
        }
        if self.valid_min.is_some_and(|m| raw < m) || self.valid_max.is_some_and(|m| raw > m) {
            return true;
        }
        false
    }

    /// Whether any missing-value test can ever fire (lets integer decoding skip the test).
    pub fn has_missing_rules(&self) -> bool {
        self.fill_value.is_some()
            || !self.missing_values.is_empty()
            || self.valid_min.is_some()
            || self.valid_max.is_some()
    }

    #[inline]
    pub fn unpack(&self, raw: f64) -> f64 {
        raw * self.scale_factor.unwrap_or(1.0) + self.add_offset.unwrap_or(0.0)
    }
}

/// A numeric or text attribute value, as the formats hand them over.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Text(String),
    Numbers(Vec<f64>),
}

/// Attributes as a JSON object: text as strings, one number as a number, several as an array.
pub fn attrs_json(attrs: &BTreeMap<String, AttrValue>) -> String {
    let object: serde_json::Map<String, serde_json::Value> = attrs
        .iter()
        .map(|(k, v)| {
            let value = match v {
                AttrValue::Text(t) => serde_json::Value::from(t.as_str()),
                AttrValue::Numbers(n) if n.len() == 1 => number(n[0]),
                AttrValue::Numbers(n) => serde_json::Value::Array(n.iter().map(|x| number(*x)).collect()),
            };
            (k.clone(), value)
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// A JSON number, or null for NaN and infinities (which JSON cannot hold).
fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

impl AttrValue {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            AttrValue::Text(s) => Some(s),
            AttrValue::Numbers(_) => None,
        }
    }

    pub fn first_number(&self) -> Option<f64> {
        match self {
            AttrValue::Numbers(v) => v.first().copied(),
            AttrValue::Text(s) => s.trim().parse().ok(),
        }
    }

    /// The value as text for field metadata.
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Text(s) => s.clone(),
            AttrValue::Numbers(v) => v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "),
        }
    }
}

/// Builds the [`Packing`] of a variable from its attributes.
pub fn packing_from_attrs(attrs: &BTreeMap<String, AttrValue>) -> Packing {
    let num = |k: &str| attrs.get(k).and_then(AttrValue::first_number);
    let mut p = Packing {
        scale_factor: num("scale_factor"),
        add_offset: num("add_offset"),
        fill_value: num("_FillValue"),
        missing_values: match attrs.get("missing_value") {
            Some(AttrValue::Numbers(v)) => v.clone(),
            Some(t) => t.first_number().into_iter().collect(),
            None => vec![],
        },
        valid_min: num("valid_min"),
        valid_max: num("valid_max"),
    };
    if let Some(AttrValue::Numbers(r)) = attrs.get("valid_range")
        && r.len() == 2
    {
        p.valid_min = Some(r[0]);
        p.valid_max = Some(r[1]);
    }
    // A range with min > max (seen in GHRSST masks: valid_max -1b meant 255 unsigned)
    // would hide every value; such a range carries no information, so it is ignored.
    if let (Some(lo), Some(hi)) = (p.valid_min, p.valid_max)
        && lo > hi
    {
        p.valid_min = None;
        p.valid_max = None;
    }
    p
}

/// The text attributes that travel as Arrow field metadata.
pub const METADATA_ATTRS: &[&str] = &["units", "standard_name", "long_name", "comment", "calendar", "axis", "positive"];

/// Picks the metadata attributes out of a full attribute map.
pub fn metadata_attrs(attrs: &BTreeMap<String, AttrValue>) -> BTreeMap<String, String> {
    METADATA_ATTRS
        .iter()
        .filter_map(|k| attrs.get(*k).map(|v| (k.to_string(), v.to_text())))
        .collect()
}

/// What a 1-D coordinate variable stands for, from its CF attributes first and its name last.
pub fn coordinate_role(name: &str, attrs: &BTreeMap<String, AttrValue>) -> Option<crate::Role> {
    use crate::Role;
    let text = |k: &str| attrs.get(k).and_then(|v| v.as_text()).map(|s| s.trim().to_string());
    if let Some(axis) = text("axis") {
        match axis.to_ascii_uppercase().as_str() {
            "T" => return Some(Role::Time),
            "Z" => return Some(Role::Depth),
            "Y" => return Some(Role::Lat),
            "X" => return Some(Role::Lon),
            _ => {}
        }
    }
    if let Some(sn) = text("standard_name") {
        match sn.as_str() {
            "time" => return Some(Role::Time),
            "latitude" | "grid_latitude" => return Some(Role::Lat),
            "longitude" | "grid_longitude" => return Some(Role::Lon),
            "depth" | "height" | "altitude" | "sea_water_pressure" => return Some(Role::Depth),
            _ => {}
        }
    }
    if let Some(units) = text("units") {
        let u = units.to_ascii_lowercase().replace(' ', "");
        if matches!(u.as_str(), "degrees_north" | "degree_north" | "degree_n" | "degrees_n" | "degreen" | "degreesn") {
            return Some(Role::Lat);
        }
        if matches!(u.as_str(), "degrees_east" | "degree_east" | "degree_e" | "degrees_e" | "degreee" | "degreese") {
            return Some(Role::Lon);
        }
        if u.contains("since") {
            return Some(Role::Time);
        }
    }
    match name.to_ascii_lowercase().as_str() {
        "time" | "t" => Some(Role::Time),
        "lat" | "latitude" | "nav_lat" => Some(Role::Lat),
        "lon" | "longitude" | "nav_lon" => Some(Role::Lon),
        "depth" | "lev" | "z" | "deptht" => Some(Role::Depth),
        _ => None,
    }
}

/// Normalises a longitude to [-180, 180).
#[inline]
pub fn normalize_lon(lon: f64) -> f64 {
    let x = (lon + 180.0).rem_euclid(360.0) - 180.0;
    // rem_euclid can round 179.99999999999997 + 180 up to 360.
    if x >= 180.0 { x - 360.0 } else { x }
}

/// A parsed CF time `units` attribute: "UNIT since REFERENCE".
#[derive(Clone, Debug, PartialEq)]
pub struct TimeUnits {
    /// Length of one unit in microseconds.
    pub unit_us: f64,
    /// Reference instant, microseconds since 1970-01-01 UTC.
    pub epoch_us: i64,
    pub calendar: Calendar,
    /// Reference date as (year, month, day) and time of day in µs, for non-standard calendars.
    reference: (i32, u32, u32, i64),
}

/// The CF calendars OceanQL decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calendar {
    /// standard, gregorian, proleptic_gregorian (identical after 1582-10-15).
    Gregorian,
    /// noleap / 365_day: every year has 365 days.
    NoLeap,
    /// all_leap / 366_day: every year has 366 days.
    AllLeap,
}

impl TimeUnits {
    /// Parses `units` and `calendar` of the time variable `var` of `file`.
    pub fn parse(units: &str, calendar: Option<&str>, file: &str, var: &str) -> Result<Self> {
        let err = |why: String| plan_datafusion_err!("{file}: variable '{var}': {why}");
        let lower = units.trim().to_ascii_lowercase();
        let (unit, reference) = lower
            .split_once(" since ")
            .ok_or_else(|| err(format!("time units '{units}' are not of the form 'UNIT since DATE'")))?;
        let unit_us = match unit.trim() {
            "days" | "day" | "d" => 86_400e6,
            "hours" | "hour" | "hrs" | "hr" | "h" => 3_600e6,
            "minutes" | "minute" | "mins" | "min" => 60e6,
            "seconds" | "second" | "secs" | "sec" | "s" => 1e6,
            "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => 1e3,
            "microseconds" | "microsecond" | "usecs" | "usec" | "us" => 1.0,
            other => {
                return Err(err(format!(
                    "time unit '{other}' in '{units}' is not supported (use days, hours, minutes, seconds, milliseconds or microseconds; months and years have no fixed length)"
                )));
            }
        };
        let calendar = match calendar.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("standard") | Some("gregorian") | Some("proleptic_gregorian") => Calendar::Gregorian,
            Some("noleap") | Some("365_day") => Calendar::NoLeap,
            Some("all_leap") | Some("366_day") => Calendar::AllLeap,
            Some(other) => {
                return Err(err(format!(
                    "calendar '{other}' is not supported: its dates cannot all be represented as UTC timestamps (supported: standard, gregorian, proleptic_gregorian, noleap, 365_day, all_leap, 366_day)"
                )));
            }
        };
        let (date, time_us) = parse_reference(reference.trim()).ok_or_else(|| err(format!("cannot parse the reference date in time units '{units}'")))?;
        let epoch_us = date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_micros()).unwrap_or(0) + time_us;
        use chrono::Datelike;
        Ok(TimeUnits { unit_us, epoch_us, calendar, reference: (date.year(), date.month(), date.day(), time_us) })
    }

    /// Converts a stored time value to microseconds since 1970-01-01 UTC.
    pub fn to_micros(&self, value: f64) -> Option<i64> {
        if !value.is_finite() {
            return None;
        }
        let offset_us = (value * self.unit_us).round();
        match self.calendar {
            Calendar::Gregorian => Some(self.epoch_us + offset_us as i64),
            Calendar::NoLeap | Calendar::AllLeap => self.fixed_year_to_micros(offset_us as i64),
        }
    }

    /// Calendars with a fixed year length: count whole days from the reference
    /// date in that calendar, then map the resulting (year, month, day) to UTC.
    fn fixed_year_to_micros(&self, offset_us: i64) -> Option<i64> {
        let (y0, m0, d0, t0) = self.reference;
        let leap = self.calendar == Calendar::AllLeap;
        let year_len: i64 = if leap { 366 } else { 365 };
        let total_us = t0 + offset_us;
        let day_us = 86_400_000_000i64;
        let days = total_us.div_euclid(day_us);
        let rest = total_us.rem_euclid(day_us);
        let doy0 = day_of_year(m0, d0, leap) as i64;
        let abs = doy0 + days;
        let year = y0 as i64 + abs.div_euclid(year_len);
        let doy = abs.rem_euclid(year_len) as u32;
        let (month, day) = month_day(doy, leap);
        let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
        Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros() + rest)
    }
}

const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

fn day_of_year(month: u32, day: u32, leap: bool) -> u32 {
    let before: u32 = MONTH_DAYS[..(month - 1) as usize].iter().sum();
    before + day - 1 + u32::from(leap && month > 2)
}

fn month_day(doy: u32, leap: bool) -> (u32, u32) {
    let mut left = doy;
    for (i, &len) in MONTH_DAYS.iter().enumerate() {
        let len = len + u32::from(leap && i == 1);
        if left < len {
            return (i as u32 + 1, left + 1);
        }
        left -= len;
    }
    (12, 31)
}

/// Parses "1981-01-01", "1981-1-1 0:0:0", "1970-01-01T00:00:00Z", "1900-01-01 00:00:00.0 +0:00".
fn parse_reference(text: &str) -> Option<(NaiveDate, i64)> {
    let text = text.trim_end_matches(['z', 'Z']).trim();
    let text = text.strip_suffix("utc").unwrap_or(text).trim();
    let mut parts = text.splitn(2, ['t', 'T', ' ']);
    let date_part = parts.next()?;
    let mut rest = parts.next().unwrap_or("").trim().to_string();
    let mut fields = date_part.split('-');
    let year: i32 = fields.next()?.parse().ok()?;
    let month: u32 = fields.next().unwrap_or("1").parse().ok()?;
    let day: u32 = fields.next().unwrap_or("1").parse().ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    // A trailing time-zone offset such as "+00:00", "-6:00" or "UTC".
    let mut tz_us = 0i64;
    if let Some(pos) = rest.rfind(['+', '-']).filter(|&p| p > 0 || rest.starts_with(['+', '-'])) {
        let (clock, tz) = rest.split_at(pos);
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let mut hm = tz[1..].split(':');
        let h: i64 = hm.next()?.trim().parse().ok()?;
        let m: i64 = hm.next().unwrap_or("0").trim().parse().ok()?;
        tz_us = sign * (h * 3600 + m * 60) * 1_000_000;
        rest = clock.trim().to_string();
    }
    let rest = rest.trim_end_matches(['z', 'Z']).trim();
    let rest = rest.strip_suffix("utc").unwrap_or(rest).trim();
    let time_us = if rest.is_empty() {
        0
    } else {
        let mut hms = rest.split(':');
        let h: f64 = hms.next()?.parse().ok()?;
        let m: f64 = hms.next().unwrap_or("0").parse().ok()?;
        let s: f64 = hms.next().unwrap_or("0").parse().ok()?;
        ((h * 3600.0 + m * 60.0 + s) * 1e6).round() as i64
    };
    Some((date, time_us - tz_us))
}

/// Formats microseconds since the epoch as an ISO-8601 UTC string (for messages).
pub fn format_micros(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
        .unwrap_or_else(|| format!("{us}µs"))
}

/// Wraps any error with the file (and variable) it came from.
pub fn file_error(file: &str, var: Option<&str>, err: impl std::fmt::Display) -> DataFusionError {
    match var {
        Some(v) => DataFusionError::Execution(format!("{file}: variable '{v}': {err}")),
        None => DataFusionError::Execution(format!("{file}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn us(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_micros()
    }

    #[test]
    fn parses_common_time_units() {
        let t = TimeUnits::parse("days since 1981-01-01 00:00:00", None, "f", "time").unwrap();
        assert_eq!(t.to_micros(1.5), Some(us("1981-01-02 12:00:00")));
        let t = TimeUnits::parse("seconds since 1970-01-01T00:00:00Z", Some("gregorian"), "f", "time").unwrap();
        assert_eq!(t.to_micros(86400.0), Some(us("1970-01-02 00:00:00")));
        let t = TimeUnits::parse("hours since 1950-1-1", Some("proleptic_gregorian"), "f", "time").unwrap();
        assert_eq!(t.to_micros(24.0), Some(us("1950-01-02 00:00:00")));
        let t = TimeUnits::parse("minutes since 2000-01-01 06:00:00 +06:00", None, "f", "time").unwrap();
        assert_eq!(t.to_micros(0.0), Some(us("2000-01-01 00:00:00")));
        let t = TimeUnits::parse("Days since 1900-01-01 00:00:00.0 UTC", None, "f", "time").unwrap();
        assert_eq!(t.to_micros(0.0), Some(us("1900-01-01 00:00:00")));
    }

    #[test]
    fn noleap_skips_february_29() {
        let t = TimeUnits::parse("days since 2000-01-01", Some("noleap"), "f", "time").unwrap();
        // 31 + 28 days later is March 1st in a 365-day calendar.
        assert_eq!(t.to_micros(59.0), Some(us("2000-03-01 00:00:00")));
        assert_eq!(t.to_micros(365.0), Some(us("2001-01-01 00:00:00")));
        let t = TimeUnits::parse("days since 2001-01-01", Some("all_leap"), "f", "time").unwrap();
        assert_eq!(t.to_micros(366.0), Some(us("2002-01-01 00:00:00")));
    }

    #[test]
    fn rejects_unsupported_units_and_calendars() {
        let e = TimeUnits::parse("months since 2000-01-01", None, "a.nc", "time").unwrap_err();
        assert!(e.to_string().contains("a.nc: variable 'time': time unit 'months'"), "{e}");
        let e = TimeUnits::parse("days since 2000-01-01", Some("360_day"), "a.nc", "time").unwrap_err();
        assert!(e.to_string().contains("calendar '360_day' is not supported"), "{e}");
        let e = TimeUnits::parse("days after 2000", None, "a.nc", "t").unwrap_err();
        assert!(e.to_string().contains("not of the form"), "{e}");
    }

    #[test]
    fn normalizes_longitudes() {
        assert_eq!(normalize_lon(0.0), 0.0);
        assert_eq!(normalize_lon(180.0), -180.0);
        assert_eq!(normalize_lon(359.875), -0.125);
        assert_eq!(normalize_lon(-180.0), -180.0);
        assert_eq!(normalize_lon(540.0), -180.0);
    }
}
