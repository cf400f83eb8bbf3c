//! `DIR/sst_long.parquet` (`--benchmark` only): the daily SST grid as one long table,
//! as a notebook writes it for DuckDB or SedonaDB (`ds.to_dataframe().dropna()`):
//! one row per ocean cell and day, columns `time` (Timestamp(µs, UTC), 00:00 of the
//! day), `lat`, `lon` (Float64, cell centres, lon in [-180, 180)) and `sst` (Float64,
//! °C, the packed value times 0.01, so exactly what the `sst` table decodes). Rows
//! are in (time, lat, lon) order, south to north and west to east, in row groups of
//! [`ROW_GROUP`] rows, so a row group covers a band of latitudes of one day and its
//! statistics prune both time and latitude.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::WriterProperties;

use super::{EPOCH_2023_US, FILL, SCALE, Spec, fail};

/// Rows per row group (about DuckDB's default of 122,880).
pub(super) const ROW_GROUP: usize = 131_072;

/// Writes the table one day at a time.
pub(super) struct LongWriter {
    writer: ArrowWriter<fs::File>,
    schema: SchemaRef,
    path: std::path::PathBuf,
}

impl LongWriter {
    pub(super) fn create(path: &Path) -> Result<Self> {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("time", utc, false),
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
            Field::new("sst", DataType::Float64, false),
        ]));
        let sorting = (0..3)
            .map(|i| SortingColumn {
                column_idx: i,
                descending: false,
                nulls_first: false,
            })
            .collect();
        // Snappy: what pandas and pyarrow write by default.
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_sorting_columns(Some(sorting))
            .build();
        let file = fs::File::create(path).map_err(|e| fail("creating", path, e))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| fail("writing Parquet", path, e))?;
        Ok(LongWriter {
            writer,
            schema,
            path: path.to_path_buf(),
        })
    }

    /// Appends the ocean cells of `day`; `raw` is (lat, lon) row-major, row 0 south,
    /// column 0 at -180.
    pub(super) fn write_day(&mut self, spec: &Spec, day: usize, raw: &[i16]) -> Result<()> {
        let (ny, nx) = (spec.ny(), spec.nx());
        let ocean = raw.iter().filter(|&&v| v != FILL).count();
        let (mut lat, mut lon, mut sst) = (
            Vec::with_capacity(ocean),
            Vec::with_capacity(ocean),
            Vec::with_capacity(ocean),
        );
        for i in 0..ny {
            for j in 0..nx {
                let v = raw[i * nx + j];
                if v != FILL {
                    lat.push(spec.lat(i));
                    lon.push(spec.lon(j));
                    sst.push(v as f64 * SCALE);
                }
            }
        }
        let time = EPOCH_2023_US + day as i64 * 86_400_000_000;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(vec![time; ocean]).with_timezone("UTC")),
            Arc::new(Float64Array::from(lat)),
            Arc::new(Float64Array::from(lon)),
            Arc::new(Float64Array::from(sst)),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.writer
            .write(&batch)
            .map_err(|e| fail("writing Parquet", &self.path, e))
    }

    pub(super) fn finish(self) -> Result<()> {
        self.writer
            .close()
            .map(|_| ())
            .map_err(|e| fail("writing Parquet", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn ocean_cells_in_time_lat_lon_order() {
        let mut spec = Spec::benchmark();
        spec.cells_per_degree = 1;
        let (ny, nx) = (spec.ny(), spec.nx());
        // Day d: cell k holds k % 1000 + d, every third cell is land.
        let day_raw = |d: usize| -> Vec<i16> {
            (0..ny * nx)
                .map(|k| {
                    if k % 3 == 0 {
                        FILL
                    } else {
                        (k % 1000 + d) as i16
                    }
                })
                .collect()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.parquet");
        let mut w = LongWriter::create(&path).unwrap();
        for d in 0..2 {
            w.write_day(&spec, d, &day_raw(d)).unwrap();
        }
        w.finish().unwrap();

        let file = fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        // 2 days of 43,200 ocean cells: one row group, under ROW_GROUP rows.
        assert_eq!(reader.metadata().num_row_groups(), 1);
        let mut want = vec![];
        for d in 0..2 {
            let raw = day_raw(d);
            for k in (0..ny * nx).filter(|k| raw[*k] != FILL) {
                let t = EPOCH_2023_US + d as i64 * 86_400_000_000;
                want.push((t, spec.lat(k / nx), spec.lon(k % nx), raw[k] as f64 * 0.01));
            }
        }
        let mut got = vec![];
        for batch in reader.build().unwrap() {
            let b = batch.unwrap();
            let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let [lat, lon, sst] =
                [1, 2, 3].map(|c| b.column(c).as_primitive::<Float64Type>().clone());
            for i in 0..b.num_rows() {
                got.push((t.value(i), lat.value(i), lon.value(i), sst.value(i)));
            }
        }
        assert_eq!(got.len(), 2 * (ny * nx - (ny * nx).div_ceil(3)));
        assert_eq!(got, want);
        assert_eq!(got[0], (EPOCH_2023_US, -89.5, -178.5, 0.01));
    }
}
