//! Colour maps for gridded values: viridis, and a blue-white-red map centred on 0 for
//! values on both sides of it (anomalies, differences).

use plotters::style::RGBColor;

/// matplotlib's viridis at eight evenly spaced points.
const VIRIDIS: [(u8, u8, u8); 8] = [
    (68, 1, 84),
    (70, 50, 127),
    (54, 92, 141),
    (39, 127, 143),
    (31, 162, 136),
    (74, 194, 110),
    (160, 219, 57),
    (254, 232, 37),
];

/// ColorBrewer RdBu (11 classes), blue for negative, white for 0, red for positive.
const BLUE_RED: [(u8, u8, u8); 11] = [
    (5, 48, 97),
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
    (103, 0, 31),
];

/// A colour map over a value range.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub min: f64,
    pub max: f64,
    diverging: bool,
}

impl Scale {
    /// viridis from `min` to `max`; when the values lie on both sides of 0 and the smaller
    /// side is at least a tenth of the larger one (or the column is named like an anomaly),
    /// blue-white-red over a range symmetric about 0.
    pub fn new(min: f64, max: f64, name: &str) -> Scale {
        let name = name.to_ascii_lowercase();
        let named = ["anom", "diff", "bias", "delta", "change", "trend"].iter().any(|word| name.contains(word));
        let (small, large) = (min.abs().min(max.abs()), min.abs().max(max.abs()));
        if min < 0.0 && max > 0.0 && (small >= 0.1 * large || named) {
            return Scale { min: -large, max: large, diverging: true };
        }
        if min == max {
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.01 };
            return Scale { min: min - pad, max: max + pad, diverging: false };
        }
        Scale { min, max, diverging: false }
    }

    /// The colour of `value` (clamped to the range).
    pub fn colour(&self, value: f64) -> RGBColor {
        let t = ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        let anchors: &[(u8, u8, u8)] = if self.diverging { &BLUE_RED } else { &VIRIDIS };
        let position = t * (anchors.len() - 1) as f64;
        let i = (position.floor() as usize).min(anchors.len() - 2);
        let f = position - i as f64;
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
        let (a, b) = (anchors[i], anchors[i + 1]);
        RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_middle() {
        let scale = Scale::new(0.0, 10.0, "sst");
        assert_eq!(scale.colour(0.0), RGBColor(68, 1, 84));
        assert_eq!(scale.colour(10.0), RGBColor(254, 232, 37));
        assert_eq!(scale.colour(99.0), RGBColor(254, 232, 37));
        assert_eq!(scale.colour(5.0), RGBColor(35, 145, 140)); // halfway between anchors 3 and 4
    }

    #[test]
    fn diverging_when_values_straddle_zero() {
        let anomaly = Scale::new(-1.0, 3.0, "sst");
        assert_eq!((anomaly.min, anomaly.max), (-3.0, 3.0));
        assert_eq!(anomaly.colour(0.0), RGBColor(247, 247, 247));
        assert_eq!(anomaly.colour(-3.0), RGBColor(5, 48, 97));
        let sst = Scale::new(-1.8, 30.6, "sst");
        assert_eq!((sst.min, sst.max), (-1.8, 30.6));
        assert_eq!(Scale::new(-0.2, 5.0, "sst_anomaly").max, 5.0);
        assert_eq!(Scale::new(-0.2, 5.0, "sst_anomaly").colour(0.0), RGBColor(247, 247, 247));
        assert_eq!(Scale::new(2.0, 2.0, "x"), Scale { min: 1.98, max: 2.02, diverging: false });
    }
}
