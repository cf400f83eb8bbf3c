//! `\plot` and `--plot`: a result drawn into a PNG as a time series, a map or a Hovmöller diagram.

mod colour;
mod data;
mod draw;
mod png;
mod ticks;

use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::error::Result;

use crate::error::usage;

use data::{Kind, label, numbers, seconds};
use draw::{Axis, AxisKind, Grid, HEIGHT, Line, TimeSeries, WIDTH};

/// Where `\plot` without a file name writes.
pub const DEFAULT_FILE: &str = "oceanql-plot.png";

/// Rows of a result the session keeps for `\plot`; a larger result is not kept.
pub const MAX_ROWS: usize = 2_000_000;

/// Draws a result into the PNG file `path`; returns what it drew ("a map of sst").
pub fn plot(schema: &Schema, batches: &[RecordBatch], path: &Path) -> Result<String> {
    let is_png = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(usage(format!("cannot plot to {}: plots are PNG files, name it FILE.png", path.display())));
    }
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Err(usage("nothing to plot: the last result has no rows"));
    }
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    let what = match data::detect(schema)? {
        Kind::TimeSeries { time, values } => {
            let series = time_series(schema, batches, time, &values)?;
            draw::time_series(&mut rgb, &series)?;
            format!("a time series of {}", names(schema, &values))
        }
        Kind::Map { lat, lon, value, time } => {
            draw::grid(&mut rgb, &map(schema, batches, [lat, lon, value], time)?)?;
            format!("a map of {}", schema.field(value).name())
        }
        Kind::Hovmoller { time, space, space_is_lat, value } => {
            draw::grid(&mut rgb, &hovmoller(schema, batches, [time, space, value], space_is_lat)?)?;
            let axes = if space_is_lat { "time x lat" } else { "lon x time" };
            format!("a Hovmöller diagram ({axes}) of {}", schema.field(value).name())
        }
    };
    let png = png::encode(&rgb, WIDTH, HEIGHT).map_err(|e| usage(format!("cannot encode the plot: {e}")))?;
    std::fs::write(path, png).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    Ok(what)
}

fn names(schema: &Schema, columns: &[usize]) -> String {
    columns.iter().map(|&i| schema.field(i).name().as_str()).collect::<Vec<_>>().join(", ")
}

/// One line per value column, over the rows that have a time, in time order.
fn time_series(schema: &Schema, batches: &[RecordBatch], time: usize, values: &[usize]) -> Result<TimeSeries> {
    let times = seconds(batches, time)?;
    let mut order: Vec<usize> = (0..times.len()).filter(|&i| times[i].is_some()).collect();
    order.sort_by(|&a, &b| times[a].unwrap_or(0.0).total_cmp(&times[b].unwrap_or(0.0)));
    let mut lines = Vec::new();
    for &column in values {
        let ys = numbers(batches, column)?;
        let points = order.iter().map(|&i| (times[i].unwrap_or(0.0), ys[i])).collect();
        lines.push(Line { label: label(schema.field(column)), points });
    }
    if lines.iter().all(|l| l.points.iter().all(|p| p.1.is_none())) {
        return Err(usage(format!("nothing to plot: every value of {} is NULL", names(schema, values))));
    }
    let y_label = if let [one] = values { label(schema.field(*one)) } else { String::new() };
    let title = format!("{} by {}", names(schema, values), schema.field(time).name());
    Ok(TimeSeries { title, x_label: schema.field(time).name().clone(), y_label, lines })
}

/// `[lat, lon, value]` as a grid; a time column must hold one time, which goes in the title.
fn map(schema: &Schema, batches: &[RecordBatch], [lat, lon, value]: [usize; 3], time: Option<usize>) -> Result<Grid> {
    let name = |i: usize| schema.field(i).name().as_str();
    let mut title = format!("{} by {} and {}", name(value), name(lat), name(lon));
    if let Some(time) = time {
        title = format!("{title} at {}", single_time(schema, batches, time)?);
    }
    let x = Coordinate { kind: AxisKind::Lon, column: lon, values: numbers(batches, lon)? };
    let y = Coordinate { kind: AxisKind::Lat, column: lat, values: numbers(batches, lat)? };
    grid(schema, batches, [x, y], value, title)
}

/// `[time, lat or lon, value]` as a grid: time along x with lat, along y with lon.
fn hovmoller(
    schema: &Schema,
    batches: &[RecordBatch],
    [time, space, value]: [usize; 3],
    space_is_lat: bool,
) -> Result<Grid> {
    let name = |i: usize| schema.field(i).name().as_str();
    let title = format!("{} by {} and {}", name(value), name(time), name(space));
    let time = Coordinate { kind: AxisKind::Time, column: time, values: seconds(batches, time)? };
    let kind = if space_is_lat { AxisKind::Lat } else { AxisKind::Lon };
    let space = Coordinate { kind, column: space, values: numbers(batches, space)? };
    let axes = if space_is_lat { [time, space] } else { [space, time] };
    grid(schema, batches, axes, value, title)
}

/// A column as the coordinate of an axis.
struct Coordinate {
    kind: AxisKind,
    column: usize,
    values: Vec<Option<f64>>,
}

/// The rows that have both coordinates, as cells of `value`.
fn grid(
    schema: &Schema,
    batches: &[RecordBatch],
    [x, y]: [Coordinate; 2],
    value: usize,
    title: String,
) -> Result<Grid> {
    let values = numbers(batches, value)?;
    let keep: Vec<usize> = (0..values.len()).filter(|&i| x.values[i].is_some() && y.values[i].is_some()).collect();
    let axis = |c: &Coordinate| Axis {
        kind: c.kind,
        label: schema.field(c.column).name().clone(),
        values: keep.iter().map(|&i| c.values[i].unwrap_or_default()).collect(),
    };
    let values: Vec<Option<f64>> = keep.iter().map(|&i| values[i]).collect();
    if values.iter().all(Option::is_none) {
        return Err(usage(format!("nothing to plot: every value of {} is NULL", schema.field(value).name())));
    }
    Ok(Grid { title, x: axis(&x), y: axis(&y), values, value_label: label(schema.field(value)) })
}

/// The one time of a map's time column, as text; several times are an error.
fn single_time(schema: &Schema, batches: &[RecordBatch], time: usize) -> Result<String> {
    let times: Vec<f64> = seconds(batches, time)?.into_iter().flatten().collect();
    let (first, last) = times.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    let text = |t: f64| ticks::time_label(t, "%Y-%m-%d %H:%M:%S").trim_end_matches(" 00:00:00").to_string();
    if first < last {
        return Err(usage(format!(
            "a map needs one time, and {} goes from {} to {}: choose one (WHERE {0} = ...) or aggregate over time (GROUP BY lat, lon)",
            schema.field(time).name(),
            text(first),
            text(last)
        )));
    }
    Ok(if first.is_finite() { text(first) } else { "no time".to_string() })
}
