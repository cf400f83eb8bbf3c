//! Draws time series and gridded values (maps, Hovmöller diagrams) with plotters into an RGB buffer.

use std::fmt::Display;
use std::ops::Range;
use std::sync::Once;

use datafusion::error::{DataFusionError, Result};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::usage;

use super::colour::Scale;
use super::ticks;

pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;
const FONT: &str = "sans-serif";
/// Width of the colour bar and its labels, right of a grid.
const BAR_WIDTH: u32 = 150;
/// Line colours (the Tableau 10 palette matplotlib uses).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line of a time series: (seconds since 1970, value) sorted by time; `None` breaks the line.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, Option<f64>)>,
}

pub struct TimeSeries {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
}

/// What an axis of a grid shows, which decides its ticks and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisKind {
    Lat,
    Lon,
    Time,
}

/// An axis of a grid: the cell centre of every point.
pub struct Axis {
    pub kind: AxisKind,
    pub label: String,
    pub values: Vec<f64>,
}

/// Points on a grid coloured by value; `values[i]` is at `(x.values[i], y.values[i])`.
pub struct Grid {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub values: Vec<Option<f64>>,
    pub value_label: String,
}

/// Plotters' errors as ours.
fn failed<E: Display>(err: E) -> DataFusionError {
    usage(format!("cannot draw the plot: {err}"))
}

/// DejaVu Sans, embedded, so text needs no system fonts.
fn load_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| usage("cannot load the embedded font"));
    });
    result
}

fn canvas(rgb: &mut [u8]) -> Result<DrawingArea<BitMapBackend<'_>, Shift>> {
    load_font()?;
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    Ok(root)
}

/// A linear axis with given ticks (plotters' `WithKeyPoints` over f64 takes no label formatter).
struct Ticked {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked { linear: range.into(), ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    /// The ticks for the labels and grid lines; no light lines between them.
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// Draws lines against time, with a legend when there are several.
pub fn time_series(rgb: &mut [u8], plot: &TimeSeries) -> Result<()> {
    let x = padded(plot.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)), 0.01, 43200.0);
    let y = padded(plot.lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1)), 0.05, 1.0);
    let (x_ticks, time_format) = ticks::times(x.start, x.end, ticks::MAX_TICKS);
    let (y_ticks, y_step) = ticks::nice(y.start, y.end, ticks::MAX_TICKS);
    let root = canvas(rgb)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, (FONT, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(Ticked::new(x, x_ticks), Ticked::new(y, y_ticks))
        .map_err(failed)?;
    chart
        .configure_mesh()
        .bold_line_style(BLACK.mix(0.12))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .x_label_formatter(&|t| ticks::time_label(*t, time_format))
        .y_label_formatter(&|v| ticks::number(*v, y_step))
        .draw()
        .map_err(failed)?;
    for (i, line) in plot.lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(failed)?
            .label(&line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
        for segment in segments(&line.points) {
            let style = colour.stroke_width(2);
            chart.draw_series(LineSeries::new(segment.iter().copied(), style)).map_err(failed)?;
            if line.points.len() <= 60 || segment.len() == 1 {
                chart.draw_series(segment.iter().map(|p| Circle::new(*p, 3, colour.filled()))).map_err(failed)?;
            }
        }
    }
    if plot.lines.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(failed)?;
    }
    root.present().map_err(failed)
}

/// Runs of points without a NULL between them.
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut segments = vec![Vec::new()];
    for &(x, y) in points {
        match y {
            Some(y) => segments.last_mut().map(|s| s.push((x, y))).unwrap_or_default(),
            None if segments.last().is_some_and(|s| !s.is_empty()) => segments.push(Vec::new()),
            None => {}
        }
    }
    segments.retain(|s| !s.is_empty());
    segments
}

/// The range of `values`, widened by `fraction` of its span on each side, or by `pad`
/// when the span is 0 (and `0..1` when there is no value).
fn padded(values: impl Iterator<Item = f64>, fraction: f64, pad: f64) -> Range<f64> {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if min > max {
        return 0.0..1.0;
    }
    let margin = if max > min { (max - min) * fraction } else { pad };
    (min - margin)..(max + margin)
}

/// Draws a grid as coloured cells (their size from the spacing of the coordinates), with
/// a colour bar; a lat/lon map keeps degrees square where the world's edges allow.
pub fn grid(rgb: &mut [u8], plot: &Grid) -> Result<()> {
    let values: Vec<f64> = plot.values.iter().flatten().copied().collect();
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if min > max {
        return Err(usage(format!("nothing to plot: every value of {} is NULL", plot.value_label)));
    }
    let scale = Scale::new(min, max, &plot.value_label);
    let (dx, dy) = (spacing(&plot.x), spacing(&plot.y));
    let (mut x, mut y) = (extent(&plot.x, dx), extent(&plot.y, dy));
    let root = canvas(rgb)?;
    let (main, bar) = root.split_horizontally(WIDTH - BAR_WIDTH);
    let kinds = (plot.x.kind, plot.y.kind);
    let mut area = main.clone();
    if kinds == (AxisKind::Lon, AxisKind::Lat) {
        let size = grid_chart(&main, &plot.title, kinds, (x.clone(), y.clone()))?.plotting_area().dim_in_pixel();
        let slack;
        (x, y, slack) = square_degrees(x, y, size);
        main.fill(&WHITE).map_err(failed)?;
        let (across, up) = (slack.0 as i32 / 2, slack.1 as i32 / 2);
        area = main.margin(up, up, across, across);
    }
    let mut chart = grid_chart(&area, &plot.title, kinds, (x.clone(), y.clone()))?;
    let cells = plot.x.values.iter().zip(&plot.y.values).zip(&plot.values);
    let cells = cells.filter_map(|((x, y), v)| v.map(|v| (*x, *y, v)));
    chart
        .draw_series(cells.map(|(x, y, v)| {
            Rectangle::new([(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)], scale.colour(v).filled())
        }))
        .map_err(failed)?;
    let x_label = axis_ticks(plot.x.kind, &x).1;
    let y_label = axis_ticks(plot.y.kind, &y).1;
    chart
        .configure_mesh()
        .bold_line_style(BLACK.mix(0.15))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_desc(&plot.x.label)
        .y_desc(&plot.y.label)
        .x_label_formatter(&*x_label)
        .y_label_formatter(&*y_label)
        .draw()
        .map_err(failed)?;
    let rows = chart.plotting_area().get_pixel_range().1;
    colour_bar(&bar, &scale, &plot.value_label, rows)?;
    root.present().map_err(failed)
}

type GridChart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// The chart of a grid, with its ticks, before anything is drawn in it.
fn grid_chart<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    (x_kind, y_kind): (AxisKind, AxisKind),
    (x, y): (Range<f64>, Range<f64>),
) -> Result<GridChart<'a, 'b>> {
    let x_ticks = axis_ticks(x_kind, &x).0;
    let y_ticks = axis_ticks(y_kind, &y).0;
    ChartBuilder::on(area)
        .caption(title, (FONT, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(Ticked::new(x, x_ticks), Ticked::new(y, y_ticks))
        .map_err(failed)
}

/// Turns a tick value into its label.
type Labeller = Box<dyn Fn(&f64) -> String>;

/// Tick positions and a label function for an axis.
fn axis_ticks(kind: AxisKind, range: &Range<f64>) -> (Vec<f64>, Labeller) {
    match kind {
        AxisKind::Lat => {
            let (ticks, step) = ticks::degrees(range.start, range.end, ticks::MAX_TICKS);
            (ticks, Box::new(move |v| ticks::latitude(*v, step)))
        }
        AxisKind::Lon => {
            let (ticks, step) = ticks::degrees(range.start, range.end, 12);
            (ticks, Box::new(move |v| ticks::longitude(*v, step)))
        }
        AxisKind::Time => {
            let (ticks, format) = ticks::times(range.start, range.end, ticks::MAX_TICKS);
            (ticks, Box::new(move |v| ticks::time_label(*v, format)))
        }
    }
}

/// The smallest gap between distinct coordinates: the cell size of a regular grid
/// (one day or one degree when there is one coordinate).
fn spacing(axis: &Axis) -> f64 {
    let mut values = axis.values.clone();
    values.sort_by(f64::total_cmp);
    let span = values.last().copied().unwrap_or(0.0) - values.first().copied().unwrap_or(0.0);
    let gap = values.windows(2).map(|w| w[1] - w[0]).filter(|gap| *gap > span * 1e-9).fold(f64::INFINITY, f64::min);
    match (gap.is_finite(), axis.kind) {
        (true, _) => gap,
        (false, AxisKind::Time) => 86400.0,
        (false, _) => 1.0,
    }
}

/// From the first cell's edge to the last cell's edge; latitudes stay within ±90°.
fn extent(axis: &Axis, cell: f64) -> Range<f64> {
    let (min, max) =
        axis.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let (start, end) = (min - cell / 2.0, max + cell / 2.0);
    match axis.kind {
        AxisKind::Lat => start.max(-90.0)..end.min(90.0),
        _ => start..end,
    }
}

/// Widens the lon or the lat range so that a degree takes as many pixels across as up.
/// Latitudes stay within ±90° and longitudes within 360°: what cannot be widened is
/// returned as pixels (across, up) to leave blank instead.
fn square_degrees(
    lon: Range<f64>,
    lat: Range<f64>,
    (width, height): (u32, u32),
) -> (Range<f64>, Range<f64>, (u32, u32)) {
    let (width, height) = (width as f64, height as f64);
    let per_pixel = ((lon.end - lon.start) / width).max((lat.end - lat.start) / height);
    let widen = |range: Range<f64>, pixels: f64, limit: f64| {
        let middle = (range.start + range.end) / 2.0;
        let half = (per_pixel * pixels / 2.0).min(limit / 2.0).max((range.end - range.start) / 2.0);
        let slack = (pixels - 2.0 * half / per_pixel).max(0.0) as u32;
        ((middle - half)..(middle + half), slack)
    };
    let (lon, slack_x) = widen(lon, width, 360.0);
    let (lat, slack_y) = widen(lat, height, 180.0);
    let shift = (-90.0 - lat.start).max(0.0) + (90.0 - lat.end).min(0.0);
    (lon, (lat.start + shift)..(lat.end + shift), (slack_x, slack_y))
}

/// A vertical bar of the colour scale beside the plot, `rows` its pixel rows, labelled
/// with round values and the ends of the range.
fn colour_bar(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    scale: &Scale,
    label: &str,
    rows: Range<i32>,
) -> Result<()> {
    let (mut bar_ticks, step) = ticks::nice(scale.min, scale.max, 8);
    let near_end = |v: &f64| (v - scale.min).abs().min((scale.max - v).abs()) < 0.06 * (scale.max - scale.min);
    bar_ticks.retain(|v| !near_end(v));
    bar_ticks.extend([scale.min, scale.max]);
    let end_step = step / 10.0;
    let mut chart = ChartBuilder::on(area)
        .margin_top(rows.start.max(0) as u32)
        .margin_bottom(HEIGHT.saturating_sub(rows.end.max(0) as u32))
        .margin_left(10)
        .margin_right(10)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0f64..1f64, Ticked::new(scale.min..scale.max, bar_ticks))
        .map_err(failed)?;
    let steps = 256;
    let height = (scale.max - scale.min) / steps as f64;
    chart
        .draw_series((0..steps).map(|i| {
            let low = scale.min + i as f64 * height;
            Rectangle::new([(0.0, low), (1.0, low + height)], scale.colour(low + height / 2.0).filled())
        }))
        .map_err(failed)?;
    let is_end = |v: &f64| *v == scale.min || *v == scale.max;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .y_desc(label)
        .y_label_formatter(&|v| ticks::number(*v, if is_end(v) { end_step } else { step }))
        .draw()
        .map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(kind: AxisKind, values: &[f64]) -> Axis {
        Axis { kind, label: String::new(), values: values.to_vec() }
    }

    #[test]
    fn nulls_break_lines() {
        let points = [(0.0, None), (1.0, Some(1.0)), (2.0, Some(2.0)), (3.0, None), (4.0, None), (5.0, Some(5.0))];
        assert_eq!(segments(&points), vec![vec![(1.0, 1.0), (2.0, 2.0)], vec![(5.0, 5.0)]]);
        assert!(segments(&[(0.0, None)]).is_empty());
    }

    #[test]
    fn cells_are_as_large_as_the_grid_spacing() {
        assert_eq!(spacing(&axis(AxisKind::Lat, &[10.5, -0.5, 0.5, 0.5, 3.5])), 1.0);
        assert_eq!(spacing(&axis(AxisKind::Lon, &[0.125, 0.375, 0.875])), 0.25);
        assert_eq!(spacing(&axis(AxisKind::Lon, &[7.0, 7.0])), 1.0);
        assert_eq!(spacing(&axis(AxisKind::Time, &[86400.0])), 86400.0);
        assert_eq!(extent(&axis(AxisKind::Lat, &[-89.5, 0.5, 89.5]), 1.0), -90.0..90.0);
        assert_eq!(extent(&axis(AxisKind::Lat, &[-89.9, 89.9]), 1.0), -90.0..90.0);
        assert_eq!(extent(&axis(AxisKind::Lon, &[-179.5, 179.5]), 1.0), -180.0..180.0);
    }

    #[test]
    fn degrees_are_square() {
        // A 60° x 30° box in 600 x 600 pixels: lon stays, lat widens to 60°.
        let (lon, lat, slack) = square_degrees(-150.0..-90.0, 30.0..60.0, (600, 600));
        assert_eq!((lon, lat, slack), (-150.0..-90.0, 15.0..75.0, (0, 0)));
        // The world in 800 x 500: lat cannot widen past ±90°, so 100 pixels stay blank.
        let (lon, lat, slack) = square_degrees(-180.0..180.0, -90.0..90.0, (800, 500));
        assert_eq!((lon, lat, slack), (-180.0..180.0, -90.0..90.0, (0, 100)));
        // Near the pole the widened range moves back inside ±90°.
        let (_, lat, _) = square_degrees(0.0..40.0, 80.0..90.0, (400, 400));
        assert_eq!(lat, 50.0..90.0);
    }

    #[test]
    fn ranges_are_padded() {
        assert_eq!(padded([1.0, 3.0].into_iter(), 0.5, 9.0), 0.0..4.0);
        assert_eq!(padded([2.0].into_iter(), 0.5, 9.0), -7.0..11.0);
        assert_eq!(padded(std::iter::empty(), 0.5, 9.0), 0.0..1.0);
    }
}
