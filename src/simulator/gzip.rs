//! Minimal gzip writer (RFC 1952 with stored deflate blocks). Error bodies are small and only
//! need to be valid gzip for the client's decoder, so no compression library is pulled in.

const CRC_POLY: u32 = 0xEDB8_8320;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CRC_POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub(crate) fn encode(data: &[u8]) -> Vec<u8> {
    // Header: magic, CM=deflate, no flags, mtime 0, XFL 0, OS 255 (unknown).
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        // The chunk length is bounded by `chunks(0xffff)`, so it fits in u16.
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the input length modulo 2^32 by definition.
    out.extend_from_slice(&((data.len() & 0xffff_ffff) as u32).to_le_bytes());
    out
}

/// Decoder for exactly what `encode` writes; tests use it to read gzipped bodies back.
pub fn decode_stored(gz: &[u8]) -> Option<Vec<u8>> {
    if gz.len() < 18 || gz[..4] != [0x1f, 0x8b, 8, 0] {
        return None;
    }
    let mut pos = 10;
    let mut out = Vec::new();
    loop {
        let header = *gz.get(pos)?;
        let len = usize::from(u16::from_le_bytes([*gz.get(pos + 1)?, *gz.get(pos + 2)?]));
        pos += 5;
        out.extend_from_slice(gz.get(pos..pos + len)?);
        pos += len;
        if header & 1 == 1 {
            break;
        }
    }
    let crc = u32::from_le_bytes(gz.get(pos..pos + 4)?.try_into().ok()?);
    (crc == crc32(&out)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_known_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trips_small_and_multi_block_inputs() {
        for data in [Vec::new(), b"hello".to_vec(), vec![7u8; 70_000]] {
            assert_eq!(decode_stored(&encode(&data)).as_deref(), Some(&data[..]));
        }
    }
}
