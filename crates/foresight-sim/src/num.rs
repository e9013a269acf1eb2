//! Numbers in scene files that may be a single value or a uniform range (`0.2..0.4`),
//! and the seeded sampling that turns them into concrete values. Validation of what a
//! number means (positive, a fraction, ...) lives in `scene`, not here.

use std::fmt;

use rand::RngExt;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number in a scene file: a value (`0.5`) or a uniform range (`0.2..0.4`, `0.2..=0.4`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// A fixed value.
    Value(f32),
    /// A value drawn uniformly from `[min, max]` each time the scene is sampled.
    Uniform {
        /// Lower bound.
        min: f32,
        /// Upper bound (must be greater than `min`).
        max: f32,
    },
}

impl Num {
    /// The smallest value this number can take.
    pub fn min(self) -> f32 {
        match self {
            Num::Value(v) => v,
            Num::Uniform { min, .. } => min,
        }
    }

    /// The largest value this number can take.
    pub fn max(self) -> f32 {
        match self {
            Num::Value(v) => v,
            Num::Uniform { max, .. } => max,
        }
    }

    /// Draws a concrete value. A fixed value draws nothing from `rng`, so adding a range
    /// to one field leaves the other fields' draws unchanged only up to that field.
    pub fn sample(self, rng: &mut impl rand::Rng) -> f32 {
        match self {
            Num::Value(v) => v,
            Num::Uniform { min, max } => {
                if max > min {
                    rng.random_range(min..=max)
                } else {
                    min
                }
            }
        }
    }
}

impl From<f32> for Num {
    fn from(v: f32) -> Self {
        Num::Value(v)
    }
}

impl Default for Num {
    fn default() -> Self {
        Num::Value(0.0)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Value(v) => write!(f, "{v}"),
            Num::Uniform { min, max } => write!(f, "{min}..{max}"),
        }
    }
}

/// Three numbers, each a value or a range: positions, velocities, sizes, rotations.
pub type Vec3Spec = (Num, Num, Num);

/// Samples the three components in order x, y, z.
pub fn sample_vec3(v: Vec3Spec, rng: &mut impl rand::Rng) -> [f32; 3] {
    [v.0.sample(rng), v.1.sample(rng), v.2.sample(rng)]
}

/// A `Vec3Spec` of fixed values.
pub fn vec3(x: f32, y: f32, z: f32) -> Vec3Spec {
    (Num::Value(x), Num::Value(y), Num::Value(z))
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Num::Value(v) => s.serialize_f32(*v),
            Num::Uniform { min, max } => {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("Range", 2)?;
                st.serialize_field("start", min)?;
                st.serialize_field("end", max)?;
                st.end()
            }
        }
    }
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = Num;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number (like 0.5) or a range (like 0.2..0.4)")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(Num::Value(v as f32))
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Num, E> {
        Ok(Num::Value(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num::Value(v as f32))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num::Value(v as f32))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Num, A::Error> {
        let mut start = None;
        let mut end = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "start" => start = Some(map.next_value::<f64>()? as f32),
                "end" => end = Some(map.next_value::<f64>()? as f32),
                other => {
                    return Err(de::Error::custom(format!(
                        "unexpected `{other}` in a range; write a range as `min..max`"
                    )));
                }
            }
        }
        match (start, end) {
            (Some(min), Some(max)) => Ok(Num::Uniform { min, max }),
            _ => Err(de::Error::custom(
                "a range needs both ends; write it as `min..max`, like 0.2..0.4",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}
