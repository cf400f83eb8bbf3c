//! Tick positions and labels: round numbers, degrees (45°N, 150°W) and calendar times.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// Most ticks an axis gets.
pub const MAX_TICKS: usize = 10;

/// Round-number ticks (1, 2, 2.5 or 5 times a power of ten) inside `[min, max]`, and their step.
pub fn nice(min: f64, max: f64, max_ticks: usize) -> (Vec<f64>, f64) {
    let span = (max - min).abs().max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf((span / max_ticks as f64).log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| span / step <= max_ticks as f64)
        .unwrap_or(10.0 * magnitude);
    (steps(min, max, step), step)
}

/// Ticks for degrees: steps of 1, 2, 5, 10, 15, 30, 45 or 60 degrees when they fit, else round numbers.
pub fn degrees(min: f64, max: f64, max_ticks: usize) -> (Vec<f64>, f64) {
    let span = max - min;
    match [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0].into_iter().find(|step| span / step <= max_ticks as f64) {
        Some(step) if span >= 2.0 * max_ticks as f64 / 10.0 => (steps(min, max, step), step),
        _ => nice(min, max, max_ticks),
    }
}

/// Multiples of `step` inside `[min, max]`.
fn steps(min: f64, max: f64, step: f64) -> Vec<f64> {
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    // Rounded to the decimals of the step, so that 3 x 0.05 is 0.15.
    let scale = 10f64.powi(decimals(step) as i32);
    (first..=last).map(|i| (i as f64 * step * scale).round() / scale).collect()
}

/// Decimals that show `step` exactly (at most 10).
fn decimals(step: f64) -> usize {
    (0..10).find(|d| (step * 10f64.powi(*d as i32)).fract().abs() < 1e-6).unwrap_or(10)
}

/// `value` with as many decimals as `step` needs.
pub fn number(value: f64, step: f64) -> String {
    let text = format!("{value:.0$}", decimals(step));
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    if text == "-0" { "0".to_string() } else { text }
}

/// `45°N`, `0°`, `12.5°S`.
pub fn latitude(lat: f64, step: f64) -> String {
    hemisphere(lat, step, 'N', 'S')
}

/// `150°W`, `0°`, `30°E`, `180°`; 0..360 longitudes are shown as -180..180.
pub fn longitude(lon: f64, step: f64) -> String {
    let lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if (lon.abs() - 180.0).abs() < 1e-9 || lon.abs() < 1e-9 {
        return format!("{}°", number(lon.abs(), step));
    }
    hemisphere(lon, step, 'E', 'W')
}

fn hemisphere(value: f64, step: f64, positive: char, negative: char) -> String {
    let text = number(value.abs(), step);
    match value {
        v if text == "0" || v == 0.0 => "0°".to_string(),
        v if v > 0.0 => format!("{text}°{positive}"),
        _ => format!("{text}°{negative}"),
    }
}

/// Ticks on a time axis from `start` to `end` (seconds since 1970, UTC) at a calendar
/// step (minutes to decades), with the label format that step needs.
pub fn times(start: f64, end: f64, max_ticks: usize) -> (Vec<f64>, &'static str) {
    const HOUR: f64 = 3600.0;
    const DAY: f64 = 86400.0;
    let span = end - start;
    let fits = |step: f64| span / step <= max_ticks as f64;
    for (step, format) in [
        (60.0, "%H:%M"),
        (300.0, "%H:%M"),
        (900.0, "%H:%M"),
        (HOUR, "%m-%d %H:%M"),
        (3.0 * HOUR, "%m-%d %H:%M"),
        (6.0 * HOUR, "%m-%d %H:%M"),
        (12.0 * HOUR, "%m-%d %H:%M"),
        (DAY, "%Y-%m-%d"),
        (2.0 * DAY, "%Y-%m-%d"),
        (7.0 * DAY, "%Y-%m-%d"),
    ] {
        if fits(step) {
            return (steps(start, end, step), format);
        }
    }
    for months in [1, 2, 3, 6] {
        if fits(months as f64 * 30.4 * DAY) {
            return (month_ticks(start, end, months), "%b %Y");
        }
    }
    let years = [1, 2, 5, 10, 20, 50, 100].into_iter().find(|y| fits(*y as f64 * 365.25 * DAY)).unwrap_or(1000);
    (month_ticks(start, end, 12 * years), "%Y")
}

/// First days of months (every `months`, January-aligned; for years, multiples of the year step).
fn month_ticks(start: f64, end: f64, months: u32) -> Vec<f64> {
    let Some(first) = time(start) else { return Vec::new() };
    let mut index = first.year() as i64 * 12 + first.month0() as i64;
    index += (months as i64 - index.rem_euclid(months as i64)) % months as i64;
    let mut ticks = Vec::new();
    while let Some(tick) = month_start(index) {
        if tick > end {
            break;
        }
        if tick >= start {
            ticks.push(tick);
        }
        index += months as i64;
    }
    ticks
}

/// Seconds at 00:00 UTC of the first day of month `index` (year * 12 + month0).
fn month_start(index: i64) -> Option<f64> {
    let date = NaiveDate::from_ymd_opt(index.div_euclid(12) as i32, index.rem_euclid(12) as u32 + 1, 1)?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?).timestamp() as f64)
}

fn time(seconds: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64)
}

/// A time label in `format` (a chrono format string).
pub fn time_label(seconds: f64, format: &str) -> String {
    time(seconds).map(|t| t.format(format).to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ticks: &(Vec<f64>, &str)) -> Vec<String> {
        ticks.0.iter().map(|t| time_label(*t, ticks.1)).collect()
    }

    fn at(text: &str) -> f64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp() as f64
    }

    #[test]
    fn round_numbers() {
        assert_eq!(nice(0.0, 10.0, 10), (vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 1.0));
        assert_eq!(nice(-1.8, 30.6, 8), (vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0], 5.0));
        assert_eq!(nice(0.12, 0.31, 5).0, vec![0.15, 0.2, 0.25, 0.3]);
        assert_eq!(number(0.25, 0.05), "0.25");
        assert_eq!(number(-0.0, 1.0), "0");
        assert_eq!(number(12.5, 2.5), "12.5");
        assert_eq!(number(30.0, 2.5), "30");
        assert_eq!(number(12.5, 0.5), "12.5");
    }

    #[test]
    fn degree_ticks_and_labels() {
        assert_eq!(degrees(-180.0, 180.0, 12).0, (-6..=6).map(|i| i as f64 * 30.0).collect::<Vec<_>>());
        assert_eq!(degrees(45.0, 60.0, 10).0, vec![46.0, 48.0, 50.0, 52.0, 54.0, 56.0, 58.0, 60.0]);
        assert_eq!(degrees(10.0, 11.0, 10).0.len(), 11); // 0.1° steps
        assert_eq!(latitude(45.0, 15.0), "45°N");
        assert_eq!(latitude(-12.5, 2.5), "12.5°S");
        assert_eq!(latitude(0.0, 15.0), "0°");
        assert_eq!(longitude(-150.0, 30.0), "150°W");
        assert_eq!(longitude(210.0, 30.0), "150°W");
        assert_eq!(longitude(30.0, 30.0), "30°E");
        assert_eq!(longitude(180.0, 30.0), "180°");
        assert_eq!(longitude(-180.0, 30.0), "180°");
    }

    #[test]
    fn time_ticks_follow_the_calendar() {
        let year = times(at("2023-01-01T00:00:00Z"), at("2023-12-31T00:00:00Z"), 10);
        assert_eq!(labels(&year), ["Jan 2023", "Mar 2023", "May 2023", "Jul 2023", "Sep 2023", "Nov 2023"]);
        let week = times(at("2023-08-01T00:00:00Z"), at("2023-08-07T12:00:00Z"), 10);
        assert_eq!(labels(&week)[0], "2023-08-01");
        assert_eq!(labels(&week).len(), 7);
        let day = times(at("2023-08-01T00:00:00Z"), at("2023-08-01T21:00:00Z"), 10);
        assert_eq!(
            labels(&day),
            [
                "08-01 00:00",
                "08-01 03:00",
                "08-01 06:00",
                "08-01 09:00",
                "08-01 12:00",
                "08-01 15:00",
                "08-01 18:00",
                "08-01 21:00"
            ]
        );
        let decades = times(at("1991-01-01T00:00:00Z"), at("2023-12-01T00:00:00Z"), 10);
        assert_eq!(labels(&decades), ["1995", "2000", "2005", "2010", "2015", "2020"]);
        let quarter = times(at("2022-11-15T00:00:00Z"), at("2023-02-15T00:00:00Z"), 10);
        assert_eq!(labels(&quarter), ["Dec 2022", "Jan 2023", "Feb 2023"]);
    }
}
