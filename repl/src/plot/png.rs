//! A PNG encoder for 8-bit RGB images: per-row filters (the PNG spec's "minimum sum of
//! absolute differences" choice) and zlib through flate2, which the tree already has.

use std::io::Write;

use flate2::Compression;
use flate2::Crc;
use flate2::write::ZlibEncoder;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The PNG file of a `width` x `height` RGB image (`rgb` holds 3 bytes a pixel, row by row).
pub fn encode(rgb: &[u8], width: u32, height: u32) -> std::io::Result<Vec<u8>> {
    let row = width as usize * 3;
    assert_eq!(rgb.len(), row * height as usize, "RGB buffer of the wrong size");
    let mut header = Vec::with_capacity(13);
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, adaptive filtering, no interlace
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::best());
    let mut previous = vec![0u8; row];
    for line in rgb.chunks_exact(row) {
        zlib.write_all(&filter_row(line, &previous))?;
        previous.copy_from_slice(line);
    }
    let mut png = SIGNATURE.to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib.finish()?);
    chunk(&mut png, b"IEND", &[]);
    Ok(png)
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    png.extend(kind);
    png.extend(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    png.extend(crc.sum().to_be_bytes());
}

/// The filter type byte and the filtered row, for the filter (None, Sub, Up, Paeth) whose
/// output has the smallest sum of absolute values as signed bytes.
fn filter_row(line: &[u8], previous: &[u8]) -> Vec<u8> {
    let mut best = Vec::new();
    let mut best_cost = u64::MAX;
    for kind in [0u8, 1, 2, 4] {
        let mut out = Vec::with_capacity(line.len() + 1);
        out.push(kind);
        out.extend((0..line.len()).map(|i| {
            let left = if i >= 3 { line[i - 3] } else { 0 };
            let up_left = if i >= 3 { previous[i - 3] } else { 0 };
            let predicted = match kind {
                1 => left,
                2 => previous[i],
                4 => paeth(left, previous[i], up_left),
                _ => 0,
            };
            line[i].wrapping_sub(predicted)
        }));
        let cost = out[1..].iter().map(|&b| (b as i8).unsigned_abs() as u64).sum();
        if cost < best_cost {
            (best, best_cost) = (out, cost);
        }
    }
    best
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = a as i16 + b as i16 - c as i16;
    let (pa, pb, pc) = ((p - a as i16).abs(), (p - b as i16).abs(), (p - c as i16).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_chunks() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let png = encode(&rgb, 4, 3).unwrap();
        assert_eq!(png[..8], SIGNATURE);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(png[16..24], [0, 0, 0, 4, 0, 0, 0, 3]);
        // CRC of IHDR, as zlib.crc32(b"IHDR" + data) computes it
        assert_eq!(png[29..33], [0x3b, 0x96, 0x39, 0x91]);
        assert_eq!(&png[png.len() - 12..], [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]);
    }

    /// Decodes our PNG (filters undone as the spec says) back to the image.
    #[test]
    fn round_trip() {
        use std::io::Read;
        let (width, height) = (37usize, 23usize);
        let rgb: Vec<u8> = (0..width * height * 3).map(|i| ((i * i) % 251 + (i / 111) * 3) as u8).collect();
        let png = encode(&rgb, width as u32, height as u32).unwrap();
        let idat_length = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&png[41..41 + idat_length]).read_to_end(&mut raw).unwrap();
        let stride = width * 3;
        let mut image = vec![0u8; stride * height];
        let mut filters = std::collections::HashSet::new();
        for row in 0..height {
            let filter = raw[row * (stride + 1)];
            filters.insert(filter);
            for i in 0..stride {
                let a = if i >= 3 { image[row * stride + i - 3] } else { 0 } as i16;
                let b = if row > 0 { image[(row - 1) * stride + i] } else { 0 } as i16;
                let c = if row > 0 && i >= 3 { image[(row - 1) * stride + i - 3] } else { 0 } as i16;
                let p = a + b - c;
                let nearest = if (p - a).abs() <= (p - b).abs() && (p - a).abs() <= (p - c).abs() {
                    a
                } else if (p - b).abs() <= (p - c).abs() {
                    b
                } else {
                    c
                };
                let predicted = [0, a, b, (a + b) / 2, nearest][filter as usize] as u8;
                image[row * stride + i] = raw[row * (stride + 1) + 1 + i].wrapping_add(predicted);
            }
        }
        assert_eq!(image, rgb);
        assert!(filters.len() > 1, "one filter for all rows: {filters:?}");
    }

    #[test]
    fn paeth_predicts_like_the_spec() {
        assert_eq!(paeth(10, 20, 10), 20);
        assert_eq!(paeth(20, 10, 10), 20);
        assert_eq!(paeth(10, 10, 20), 10);
        assert_eq!(paeth(0, 0, 0), 0);
    }
}
