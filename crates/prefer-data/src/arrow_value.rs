//! Arrow columns to JSON values, so a Parquet row goes through the same field mapping and
//! checks as a JSONL line.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, OffsetSizeTrait, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Number, Value};

/// Converts every row of `batch` to a JSON object keyed by column name. Null cells are
/// left out of the object, as a missing key in JSONL.
///
/// # Errors
/// A column of a type with no JSON counterpart (binary, decimal, interval...): the message
/// names the column and its type.
pub fn batch_to_objects(batch: &RecordBatch) -> Result<Vec<Map<String, Value>>, String> {
    let schema = batch.schema();
    let mut rows: Vec<Map<String, Value>> = (0..batch.num_rows()).map(|_| Map::new()).collect();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let values =
            array_to_values(column).map_err(|e| format!("column `{}`: {e}", field.name()))?;
        for (row, v) in rows.iter_mut().zip(values) {
            if !v.is_null() {
                row.insert(field.name().clone(), v);
            }
        }
    }
    Ok(rows)
}

fn float(x: f64) -> Value {
    // NaN and infinities have no JSON form; they come back as the strings the checks
    // then reject with a clear message instead of silently turning into null.
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None => Value::String(x.to_string()),
    }
}

macro_rules! prim {
    ($arr:expr, $t:ty, $f:expr) => {{
        let a = $arr.as_primitive::<$t>();
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    Value::Null
                } else {
                    $f(a.value(i))
                }
            })
            .collect()
    }};
}

fn list_values<O: OffsetSizeTrait>(arr: &dyn Array) -> Result<Vec<Value>, String> {
    let list = arr.as_list::<O>();
    let child = array_to_values(list.values())?;
    let offsets = list.value_offsets();
    Ok((0..list.len())
        .map(|i| {
            if list.is_null(i) {
                return Value::Null;
            }
            let (s, e) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
            Value::Array(child[s..e].to_vec())
        })
        .collect())
}

/// Converts one Arrow array to JSON values, one per slot.
pub fn array_to_values(arr: &ArrayRef) -> Result<Vec<Value>, String> {
    Ok(match arr.data_type() {
        DataType::Null => vec![Value::Null; arr.len()],
        DataType::Boolean => {
            let a = arr.as_boolean();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(a.value(i))
                    }
                })
                .collect()
        }
        DataType::Int8 => prim!(arr, Int8Type, |x: i8| Value::from(x)),
        DataType::Int16 => prim!(arr, Int16Type, |x: i16| Value::from(x)),
        DataType::Int32 => prim!(arr, Int32Type, |x: i32| Value::from(x)),
        DataType::Int64 => prim!(arr, Int64Type, |x: i64| Value::from(x)),
        DataType::UInt8 => prim!(arr, UInt8Type, |x: u8| Value::from(x)),
        DataType::UInt16 => prim!(arr, UInt16Type, |x: u16| Value::from(x)),
        DataType::UInt32 => prim!(arr, UInt32Type, |x: u32| Value::from(x)),
        DataType::UInt64 => prim!(arr, UInt64Type, |x: u64| Value::from(x)),
        DataType::Float16 => prim!(arr, Float16Type, |x: half::f16| float(f64::from(x))),
        DataType::Float32 => prim!(arr, Float32Type, |x: f32| float(f64::from(x))),
        DataType::Float64 => prim!(arr, Float64Type, float),
        DataType::Timestamp(unit, _) => {
            // Seconds since the epoch, as Chatbot Arena's `tstamp`.
            let scale = match unit {
                TimeUnit::Second => 1.0,
                TimeUnit::Millisecond => 1e-3,
                TimeUnit::Microsecond => 1e-6,
                TimeUnit::Nanosecond => 1e-9,
            };
            let f = |x: i64| float(x as f64 * scale);
            match unit {
                TimeUnit::Second => prim!(arr, TimestampSecondType, f),
                TimeUnit::Millisecond => prim!(arr, TimestampMillisecondType, f),
                TimeUnit::Microsecond => prim!(arr, TimestampMicrosecondType, f),
                TimeUnit::Nanosecond => prim!(arr, TimestampNanosecondType, f),
            }
        }
        DataType::Utf8 => {
            let a = arr.as_string::<i32>();
            a.iter()
                .map(|v| v.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect()
        }
        DataType::LargeUtf8 => {
            let a = arr.as_string::<i64>();
            a.iter()
                .map(|v| v.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect()
        }
        DataType::Utf8View => {
            let a = arr.as_string_view();
            a.iter()
                .map(|v| v.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect()
        }
        DataType::List(_) => list_values::<i32>(arr.as_ref())?,
        DataType::LargeList(_) => list_values::<i64>(arr.as_ref())?,
        DataType::FixedSizeList(_, n) => {
            let list = arr.as_fixed_size_list();
            let child = array_to_values(list.values())?;
            let n = *n as usize;
            (0..list.len())
                .map(|i| {
                    if list.is_null(i) {
                        Value::Null
                    } else {
                        Value::Array(child[i * n..(i + 1) * n].to_vec())
                    }
                })
                .collect()
        }
        DataType::Struct(fields) => {
            let s = arr.as_struct();
            let mut out: Vec<Map<String, Value>> = (0..s.len()).map(|_| Map::new()).collect();
            for (f, col) in fields.iter().zip(s.columns()) {
                let vals = array_to_values(col).map_err(|e| format!("{}: {e}", f.name()))?;
                for (o, v) in out.iter_mut().zip(vals) {
                    if !v.is_null() {
                        o.insert(f.name().clone(), v);
                    }
                }
            }
            out.into_iter()
                .enumerate()
                .map(|(i, m)| {
                    if s.is_null(i) {
                        Value::Null
                    } else {
                        Value::Object(m)
                    }
                })
                .collect()
        }
        DataType::Map(_, _) => {
            let m = arr.as_map();
            let keys = array_to_values(m.keys())?;
            let vals = array_to_values(m.values())?;
            let offsets = m.value_offsets();
            (0..m.len())
                .map(|i| {
                    if m.is_null(i) {
                        return Value::Null;
                    }
                    let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let obj = (s..e)
                        .map(|j| {
                            let k = match &keys[j] {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (k, vals[j].clone())
                        })
                        .collect();
                    Value::Object(obj)
                })
                .collect()
        }
        DataType::Dictionary(_, _) => {
            let d = arr.as_any_dictionary();
            let dict = array_to_values(d.values())?;
            let keys = d.normalized_keys();
            (0..arr.len())
                .map(|i| {
                    if arr.is_null(i) {
                        Value::Null
                    } else {
                        dict[keys[i]].clone()
                    }
                })
                .collect()
        }
        other => return Err(format!("type {other} has no JSON form prefer can read")),
    })
}
