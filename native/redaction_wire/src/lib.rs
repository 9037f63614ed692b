//! The hot loop of the redaction processor's wire edit (processors/redaction/splice.py):
//! the length-delimited fields of one protobuf message that hold a scan hit.
//!
//! `Fields(buf, hits).hit_fields(start, end, h, known, singular)` walks the fields of
//! `buf[start:end]` by tag and length only and returns, for each length-delimited field
//! whose number is set in the `known` bit mask and whose value holds a hit, the tuple
//! `(tag, tag_at, len_at, value_start, value_end, h)`, where `h` indexes the first hit
//! at or after the value. It raises `ValueError` where the Python loop raises Fallback:
//! a known field of another wire type, a field in `singular` given twice, framing that
//! does not add up. splice.py keeps the same loop in Python; tests compare the two.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

#[pyclass(module = "processors.redaction._wire")]
struct Fields {
    buf: Py<PyBytes>,
    hits: Vec<usize>,
}

fn varint(buf: &[u8], pos: &mut usize) -> PyResult<u64> {
    let mut result: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos).ok_or_else(|| PyValueError::new_err("truncated"))?;
        *pos += 1;
        result |= ((b & 0x7F) as u64) << shift;
        if b < 0x80 {
            return Ok(result);
        }
        shift += 7;
        if shift > 63 {
            return Err(PyValueError::new_err("varint too long"));
        }
    }
}

#[pymethods]
impl Fields {
    #[new]
    fn new(buf: Py<PyBytes>, hits: Vec<usize>) -> Self {
        Fields { buf, hits }
    }

    fn hit_fields<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        end: usize,
        mut h: usize,
        known: u64,
        singular: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let buf = self.buf.bind(py).as_bytes();
        if end > buf.len() || start > end {
            return Err(PyValueError::new_err("field runs past its parent"));
        }
        let hits = &self.hits;
        let n_hits = hits.len();
        let out = PyList::empty_bound(py);
        let mut seen: u64 = 0;
        let mut pos = start;
        while pos < end {
            let tag_at = pos;
            let tag = varint(buf, &mut pos)?;
            let field = tag >> 3;
            let wire = tag & 7;
            let bit = if field < 64 { 1u64 << field } else { 0 };
            if wire != 2 {
                if known & bit != 0 {
                    return Err(PyValueError::new_err("a known field of an unexpected wire type"));
                }
                match wire {
                    0 => {
                        varint(buf, &mut pos)?;
                    }
                    1 => pos += 8,
                    5 => pos += 4,
                    _ => return Err(PyValueError::new_err("wire type")),
                }
                if pos > end {
                    return Err(PyValueError::new_err("field runs past its parent"));
                }
                continue;
            }
            let len_at = pos;
            let length = varint(buf, &mut pos)? as usize;
            let fend = pos.checked_add(length).ok_or_else(|| PyValueError::new_err("length"))?;
            if fend > end {
                return Err(PyValueError::new_err("field runs past its parent"));
            }
            if known & bit == 0 {
                pos = fend;
                continue;
            }
            if singular & bit != 0 {
                if seen & bit != 0 {
                    return Err(PyValueError::new_err("a singular field given twice"));
                }
                seen |= bit;
            }
            while h < n_hits && hits[h] < pos {
                h += 1;
            }
            if h < n_hits && hits[h] < fend {
                let t = PyTuple::new_bound(py, [tag as usize, tag_at, len_at, pos, fend, h]);
                out.append(t)?;
            }
            pos = fend;
        }
        if pos != end {
            return Err(PyValueError::new_err("field runs past its parent"));
        }
        Ok(out)
    }
}

#[pymodule]
fn _wire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Fields>()?;
    Ok(())
}
