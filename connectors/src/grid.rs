//! The gridded-product model shared by the NetCDF and Zarr readers.

use std::collections::BTreeMap;

use crate::Result;
use crate::cf::Packing;

/// What a dimension of a gridded variable stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Time,
    Depth,
    Lat,
    Lon,
}

impl Role {
    /// Position of this role in the canonical (time, depth, lat, lon) order.
    pub fn axis(self) -> usize {
        match self {
            Role::Time => 0,
            Role::Depth => 1,
            Role::Lat => 2,
            Role::Lon => 3,
        }
    }
}

/// Storage type of a variable, before CF decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl SourceType {
    /// Size of one stored element in bytes.
    pub fn size(self) -> usize {
        match self {
            SourceType::I8 | SourceType::U8 => 1,
            SourceType::I16 | SourceType::U16 => 2,
            SourceType::I32 | SourceType::U32 | SourceType::F32 => 4,
            SourceType::I64 | SourceType::U64 | SourceType::F64 => 8,
        }
    }
}

/// One data variable laid on the grid (its dimensions are grid axes).
#[derive(Clone, Debug)]
pub struct VarInfo {
    /// Name in the file; also the SQL column name.
    pub name: String,
    /// Role of each dimension, in storage order (a subsequence of time, depth, lat, lon).
    pub dims: Vec<Role>,
    pub dtype: SourceType,
    /// CF packing and missing-value attributes.
    pub packing: Packing,
    /// Text attributes kept as Arrow field metadata: units, standard_name, long_name, ...
    pub attrs: BTreeMap<String, String>,
    /// Chunk shape in storage order (the full shape for contiguous variables).
    pub chunks: Vec<usize>,
}

/// Everything a scan needs to know about one granule (file or store) of a grid product.
#[derive(Clone, Debug)]
pub struct GridInfo {
    /// The file or store path, as given (the `granule` column).
    pub granule: String,
    /// Time axis, microseconds since 1970-01-01 UTC (one element when the file has no time axis).
    pub time: Vec<i64>,
    /// Whether the file has a time dimension at all.
    pub has_time: bool,
    /// Depth axis, if the product has one.
    pub depth: Option<Vec<f64>>,
    /// Latitude axis in degrees north, in storage order.
    pub lat: Vec<f64>,
    /// Longitude axis normalised to [-180, 180), in storage order.
    pub lon: Vec<f64>,
    /// Attributes of the coordinate variables (units etc.), by role.
    pub coord_attrs: BTreeMap<&'static str, BTreeMap<String, String>>,
    /// Data variables on the grid, in file order.
    pub vars: Vec<VarInfo>,
}

impl GridInfo {
    /// Length of each canonical axis (time, depth, lat, lon); depth is 1 when absent.
    pub fn shape(&self) -> [usize; 4] {
        [
            self.time.len(),
            self.depth.as_ref().map_or(1, Vec::len),
            self.lat.len(),
            self.lon.len(),
        ]
    }

    pub fn var(&self, name: &str) -> Option<&VarInfo> {
        self.vars.iter().find(|v| v.name == name)
    }
}

/// A hyperslab in canonical (time, depth, lat, lon) index space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slab {
    pub start: [usize; 4],
    pub count: [usize; 4],
}

impl Slab {
    pub fn len(&self) -> usize {
        self.count.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start and count of this slab restricted to a variable's own dimensions, in storage order.
    pub fn for_dims(&self, dims: &[Role]) -> (Vec<usize>, Vec<usize>) {
        let start = dims.iter().map(|r| self.start[r.axis()]).collect();
        let count = dims.iter().map(|r| self.count[r.axis()]).collect();
        (start, count)
    }
}

/// Raw stored values of a hyperslab, in the variable's storage order.
#[derive(Clone, Debug)]
pub enum RawValues {
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl RawValues {
    pub fn len(&self) -> usize {
        match self {
            RawValues::I8(v) => v.len(),
            RawValues::U8(v) => v.len(),
            RawValues::I16(v) => v.len(),
            RawValues::U16(v) => v.len(),
            RawValues::I32(v) => v.len(),
            RawValues::U32(v) => v.len(),
            RawValues::I64(v) => v.len(),
            RawValues::U64(v) => v.len(),
            RawValues::F32(v) => v.len(),
            RawValues::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f64 (stored values, not unpacked).
    pub fn to_f64(self) -> Vec<f64> {
        match self {
            RawValues::I8(v) => v.into_iter().map(f64::from).collect(),
            RawValues::U8(v) => v.into_iter().map(f64::from).collect(),
            RawValues::I16(v) => v.into_iter().map(f64::from).collect(),
            RawValues::U16(v) => v.into_iter().map(f64::from).collect(),
            RawValues::I32(v) => v.into_iter().map(f64::from).collect(),
            RawValues::U32(v) => v.into_iter().map(f64::from).collect(),
            RawValues::I64(v) => v.into_iter().map(|x| x as f64).collect(),
            RawValues::U64(v) => v.into_iter().map(|x| x as f64).collect(),
            RawValues::F32(v) => v.into_iter().map(f64::from).collect(),
            RawValues::F64(v) => v,
        }
    }
}

/// A reader of one granule of a gridded product.
///
/// Implementations describe the grid once ([`GridReader::info`]) and read raw
/// hyperslabs; CF decoding is done by [`crate::decode`] for every format alike.
pub trait GridReader: Send + Sync + std::fmt::Debug {
    fn info(&self) -> &GridInfo;

    /// Reads the stored values of `var` over `start`/`count` (storage order of
    /// the variable's dimensions). Returns the values and the number of bytes
    /// of chunk data fetched from storage to produce them.
    fn read_raw(&self, var: &VarInfo, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)>;

    /// The granule's global attributes.
    fn global_attrs(&self) -> &BTreeMap<String, crate::cf::AttrValue>;
}

/// A variable as a format lists it, before the grid is recognised.
#[derive(Clone, Debug)]
pub struct RawVar {
    pub name: String,
    /// Dimension names and lengths, in storage order.
    pub dims: Vec<(String, usize)>,
    /// Storage type; `None` for types OceanQL does not decode as numbers (chars, strings, compounds).
    pub dtype: Option<SourceType>,
    /// Stored as single characters (NetCDF `char`, Zarr `|S1`): read with
    /// [`crate::source::ArraySource::read_chars`]; a last dimension of such a
    /// variable is usually a string length.
    pub text: bool,
    pub attrs: BTreeMap<String, crate::cf::AttrValue>,
    /// Chunk shape in storage order; `None` for contiguous storage.
    pub chunks: Option<Vec<usize>>,
}

/// Recognises the grid of one granule from its variables, the same way for every format.
///
/// Coordinates are found by CF `axis`, `standard_name`, `units`, then by name;
/// `read_1d` reads a 1-D coordinate variable as f64 (raw stored values, unpacked here).
pub fn describe(
    granule: &str,
    vars: &[RawVar],
    read_1d: &mut dyn FnMut(&RawVar) -> Result<Vec<f64>>,
) -> Result<GridInfo> {
    use crate::cf::{TimeUnits, metadata_attrs, normalize_lon, packing_from_attrs};
    let mut dim_role: BTreeMap<String, Role> = BTreeMap::new();
    let mut coord_var: BTreeMap<Role, &RawVar> = BTreeMap::new();
    for v in vars {
        let [(dim, _)] = v.dims.as_slice() else { continue };
        if v.dtype.is_none() || (dim != &v.name && vars.iter().any(|o| &o.name == dim)) {
            continue;
        }
        if let Some(role) = crate::cf::coordinate_role(&v.name, &v.attrs)
            && !coord_var.contains_key(&role)
            && !dim_role.contains_key(dim)
        {
            dim_role.insert(dim.clone(), role);
            coord_var.insert(role, v);
        }
    }
    let missing = |what: &str| {
        crate::cf::file_error(
            granule,
            None,
            format!("no {what} coordinate found (looked for a 1-D variable with CF axis, standard_name or units of {what}, or a usual name); not a gridded product"),
        )
    };
    let lat_var = *coord_var.get(&Role::Lat).ok_or_else(|| missing("latitude"))?;
    let lon_var = *coord_var.get(&Role::Lon).ok_or_else(|| missing("longitude"))?;
    let unpack = |v: &RawVar, raw: Vec<f64>| {
        let p = packing_from_attrs(&v.attrs);
        raw.into_iter().map(|x| if p.is_packed() { p.unpack(x) } else { x }).collect::<Vec<f64>>()
    };
    let lat = unpack(lat_var, read_1d(lat_var)?);
    let lon: Vec<f64> = unpack(lon_var, read_1d(lon_var)?).into_iter().map(normalize_lon).collect();
    if let Some(bad) = lat.iter().chain(lon.iter()).find(|x| !x.is_finite()) {
        return Err(crate::cf::file_error(granule, None, format!("coordinate value {bad} is not finite")));
    }
    let depth = match coord_var.get(&Role::Depth) {
        Some(v) => Some(unpack(v, read_1d(v)?)),
        None => None,
    };
    let (time, has_time) = match coord_var.get(&Role::Time) {
        Some(v) => {
            let units = v.attrs.get("units").and_then(|u| u.as_text()).ok_or_else(|| {
                crate::cf::file_error(granule, Some(&v.name), "time coordinate has no text 'units' attribute")
            })?;
            let calendar = v.attrs.get("calendar").and_then(|c| c.as_text());
            let tu = TimeUnits::parse(units, calendar, granule, &v.name)?;
            let raw = unpack(v, read_1d(v)?);
            let time = raw
                .iter()
                .map(|&x| tu.to_micros(x))
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| crate::cf::file_error(granule, Some(&v.name), "time value is missing or out of range"))?;
            (time, true)
        }
        None => (vec![i64::MIN], false),
    };
    let mut coord_attrs = BTreeMap::new();
    for (role, key) in [(Role::Time, "time"), (Role::Depth, "depth"), (Role::Lat, "lat"), (Role::Lon, "lon")] {
        if let Some(v) = coord_var.get(&role) {
            coord_attrs.insert(key, metadata_attrs(&v.attrs));
        }
    }
    let coord_names: Vec<&str> = coord_var.values().map(|v| v.name.as_str()).collect();
    let mut data_vars = Vec::new();
    for v in vars {
        let Some(dtype) = v.dtype else { continue };
        if coord_names.contains(&v.name.as_str()) {
            continue;
        }
        let roles: Option<Vec<Role>> = v.dims.iter().map(|(d, _)| dim_role.get(d).copied()).collect();
        let Some(roles) = roles else { continue };
        if !(roles.contains(&Role::Lat) && roles.contains(&Role::Lon)) {
            continue;
        }
        let shape: Vec<usize> = v.dims.iter().map(|(_, n)| *n).collect();
        data_vars.push(VarInfo {
            name: v.name.clone(),
            dims: roles,
            dtype,
            packing: packing_from_attrs(&v.attrs),
            attrs: metadata_attrs(&v.attrs),
            chunks: v.chunks.clone().unwrap_or(shape),
        });
    }
    Ok(GridInfo {
        granule: granule.to_string(),
        time,
        has_time,
        depth,
        lat,
        lon,
        coord_attrs,
        vars: data_vars,
    })
}
