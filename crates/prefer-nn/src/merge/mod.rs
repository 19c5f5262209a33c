//! Model merging with mergekit's methods, names, parameters and YAML.
//!
//! ```no_run
//! use prefer_nn::merge::{MergeConfig, MergeOptions, run_merge};
//! let config = MergeConfig::from_file("ties.yml".as_ref())?;
//! let report = run_merge(&config, "merged".as_ref(), &MergeOptions::default())?;
//! println!("{} tensors, peak {} bytes held", report.tensors, report.peak_tensor_bytes);
//! # Ok::<(), prefer_nn::Error>(())
//! ```
//!
//! The merge streams: each output tensor is computed from the inputs' tensors of the same
//! name, read straight from their safetensors files, and written before the next is read,
//! so memory holds one tensor per input model at a time (reported as
//! `peak_tensor_bytes`), whatever the models' size. Values are computed in `f32`/`f64` on
//! the CPU; inputs are rounded to `dtype` first when the config sets one (as mergekit
//! loads them in that dtype).
//!
//! Methods, one file each: [`linear`], [`slerp`], [`nuslerp`], [`model_stock`],
//! [`passthrough`], and [`task_arithmetic`] for `task_arithmetic`, `ties`, `dare_linear`,
//! `dare_ties`, `breadcrumbs`, `breadcrumbs_ties`, `della`, `della_linear` (their
//! sparsifiers in [`sparsify`]). Random methods (DARE, DELLA) draw from a ChaCha stream
//! seeded by `random_seed` and the tensor's name, so a merge is reproducible; they cannot
//! draw torch's numbers, so they match mergekit in distribution, not entry by entry.
//!
//! Layers are recognised by name (`….layers.<i>.…`, as in every Hugging Face decoder);
//! tensors outside the layers are taken from the first slice's models when their name
//! contains `embed` and from the last slice's otherwise (mergekit's pre and post weights).

pub mod config;
pub mod linear;
pub mod model_stock;
pub mod nuslerp;
pub mod passthrough;
pub mod slerp;
pub mod sparsify;
pub mod task_arithmetic;

mod run;

pub use config::{MergeConfig, Params, Scalar, Setting};
pub use run::{MergeOptions, MergeReport, run_merge};

use task_arithmetic::TaskArithmetic;

/// A merge method, by mergekit's name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// `linear`.
    Linear,
    /// `slerp`.
    Slerp,
    /// `nuslerp`.
    Nuslerp,
    /// `model_stock`.
    ModelStock,
    /// `passthrough`.
    Passthrough,
    /// `task_arithmetic`, `ties`, `dare_*`, `breadcrumbs*`, `della*`.
    TaskArithmetic(TaskArithmetic),
}

/// The names [`Method::by_name`] knows.
pub const METHODS: &[&str] = &[
    "linear",
    "slerp",
    "nuslerp",
    "model_stock",
    "passthrough",
    "task_arithmetic",
    "ties",
    "dare_linear",
    "dare_ties",
    "breadcrumbs",
    "breadcrumbs_ties",
    "della",
    "della_linear",
];

/// Which inputs a parameter is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Once per tensor (the slice's, then the config's `parameters`).
    Shared,
    /// For every input, the base included.
    Input,
    /// For every input but the base.
    NonBase,
}

/// The type and default of a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A number; `None`: required.
    Float(Option<f64>),
    /// A number that may be absent.
    OptFloat,
    /// A boolean with its default.
    Bool(bool),
}

/// One parameter a method reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// mergekit's name.
    pub name: &'static str,
    /// Where it is read.
    pub scope: Scope,
    /// Type and default.
    pub kind: Kind,
}

/// Whether a method needs a base model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasePolicy {
    /// Must be one of the inputs.
    Required,
    /// May be.
    Optional,
    /// Is not used (a base among the inputs is an ordinary input).
    Ignored,
}

/// How many inputs a method takes per tensor.
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// The base.
    pub base: BasePolicy,
    /// Inputs, base included.
    pub min_inputs: usize,
    /// At most this many inputs.
    pub max_inputs: Option<usize>,
    /// Exactly this many non-base inputs, when set.
    pub non_base: Option<usize>,
}

const fn p(name: &'static str, scope: Scope, kind: Kind) -> ParamSpec {
    ParamSpec { name, scope, kind }
}

impl Method {
    /// The method mergekit calls `name`.
    pub fn by_name(name: &str) -> Option<Method> {
        Some(match name {
            "linear" => Method::Linear,
            "slerp" => Method::Slerp,
            "nuslerp" => Method::Nuslerp,
            "model_stock" => Method::ModelStock,
            "passthrough" => Method::Passthrough,
            other => Method::TaskArithmetic(TaskArithmetic::by_name(other)?),
        })
    }

    /// The parameters it reads, with mergekit's defaults.
    pub fn params(&self) -> Vec<ParamSpec> {
        use Kind::*;
        use Scope::*;
        match self {
            Method::Linear => vec![
                p("weight", Input, Float(None)),
                p("normalize", Shared, Bool(true)),
            ],
            Method::Slerp => vec![p("t", Shared, Float(None))],
            Method::Nuslerp => vec![
                p("weight", NonBase, Float(None)),
                p("nuslerp_row_wise", Shared, Bool(false)),
                p("nuslerp_flatten", Shared, Bool(true)),
            ],
            Method::ModelStock => vec![p("filter_wise", Shared, Bool(false))],
            Method::Passthrough => vec![p("scale", Input, OptFloat)],
            Method::TaskArithmetic(ta) => {
                let mut v = vec![
                    p("int8_mask", Shared, Bool(false)),
                    p("normalize", Shared, Bool(ta.default_normalize)),
                    p("rescale", Shared, Bool(ta.default_rescale)),
                    p("lambda", Shared, Float(Some(1.0))),
                    p("weight", NonBase, Float(None)),
                    p("density", NonBase, Float(Some(1.0))),
                ];
                match ta.sparsify {
                    Some(sparsify::Sparsify::MagnitudeOutliers) => {
                        v.push(p("gamma", NonBase, Float(Some(0.01))))
                    }
                    Some(sparsify::Sparsify::DellaMagprune) => {
                        v.push(p("epsilon", NonBase, Float(Some(0.15))))
                    }
                    _ => {}
                }
                v
            }
        }
    }

    /// Its inputs.
    pub fn contract(&self) -> Contract {
        let c = |base, min_inputs, max_inputs, non_base| Contract {
            base,
            min_inputs,
            max_inputs,
            non_base,
        };
        match self {
            Method::Linear => c(BasePolicy::Ignored, 1, None, None),
            Method::Slerp => c(BasePolicy::Required, 2, Some(2), None),
            Method::Nuslerp => c(BasePolicy::Optional, 2, Some(3), Some(2)),
            Method::ModelStock => c(BasePolicy::Required, 3, None, None),
            Method::Passthrough => c(BasePolicy::Ignored, 1, Some(1), None),
            Method::TaskArithmetic(_) => c(BasePolicy::Required, 1, None, None),
        }
    }
}

/// A parameter's value after resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// Absent (an optional number).
    None,
}

/// The inputs of one output tensor with their resolved parameters.
#[derive(Debug)]
pub struct Group<'a> {
    /// The tensor's shape.
    pub shape: &'a [usize],
    /// Each input's values (row-major).
    pub tensors: Vec<Vec<f32>>,
    /// Which input is the base.
    pub base: Option<usize>,
    /// Shared parameters by name.
    pub shared: Vec<(&'static str, Value)>,
    /// Per-input parameters by name (empty for the base where the scope is `NonBase`).
    pub per_input: Vec<Vec<(&'static str, Value)>>,
}

impl Group<'_> {
    fn shared_num(&self, name: &str) -> f64 {
        num(&self.shared, name)
    }
    fn shared_bool(&self, name: &str) -> bool {
        matches!(find(&self.shared, name), Value::Bool(true))
    }
    fn input_num(&self, i: usize, name: &str) -> f64 {
        num(&self.per_input[i], name)
    }
    fn non_base(&self) -> Vec<usize> {
        (0..self.tensors.len())
            .filter(|i| Some(*i) != self.base)
            .collect()
    }
}

fn find(v: &[(&'static str, Value)], name: &str) -> Value {
    v.iter()
        .find(|(n, _)| *n == name)
        .map_or(Value::None, |(_, v)| *v)
}

fn num(v: &[(&'static str, Value)], name: &str) -> f64 {
    match find(v, name) {
        Value::Num(x) => x,
        _ => f64::NAN,
    }
}

impl Method {
    /// Merges one tensor's group; the one `match` over methods.
    pub fn merge(&self, g: &Group, rng: &mut impl rand::Rng) -> Result<Vec<f32>, String> {
        let base = g.base.map(|b| g.tensors[b].as_slice());
        Ok(match self {
            Method::Linear => {
                let w: Vec<f64> = (0..g.tensors.len())
                    .map(|i| g.input_num(i, "weight"))
                    .collect();
                linear::linear(&g.tensors, &w, g.shared_bool("normalize"))
            }
            Method::Slerp => {
                let b = g.base.ok_or("slerp needs a base model")?;
                slerp::slerp(g.shared_num("t"), &g.tensors[b], &g.tensors[1 - b])
            }
            Method::Nuslerp => {
                let nb = g.non_base();
                let t = nuslerp::factor(g.input_num(nb[0], "weight"), g.input_num(nb[1], "weight"));
                nuslerp::nuslerp(
                    t,
                    &g.tensors[nb[0]],
                    &g.tensors[nb[1]],
                    base,
                    g.shape,
                    g.shared_bool("nuslerp_flatten"),
                    g.shared_bool("nuslerp_row_wise"),
                )
            }
            Method::ModelStock => {
                let ws: Vec<&[f32]> = g
                    .non_base()
                    .iter()
                    .map(|&i| g.tensors[i].as_slice())
                    .collect();
                model_stock::model_stock(
                    base.ok_or("model_stock needs a base model")?,
                    &ws,
                    g.shape,
                    g.shared_bool("filter_wise"),
                )
            }
            Method::Passthrough => {
                let scale = match find(&g.per_input[0], "scale") {
                    Value::Num(s) => Some(s),
                    _ => None,
                };
                passthrough::passthrough(&g.tensors[0], scale)
            }
            Method::TaskArithmetic(ta) => {
                let members: Vec<(&[f32], task_arithmetic::Member)> = g
                    .non_base()
                    .into_iter()
                    .map(|i| {
                        (
                            g.tensors[i].as_slice(),
                            task_arithmetic::Member {
                                weight: g.input_num(i, "weight"),
                                density: g.input_num(i, "density"),
                                gamma: g.input_num(i, "gamma"),
                                epsilon: g.input_num(i, "epsilon"),
                            },
                        )
                    })
                    .collect();
                let shared = task_arithmetic::Shared {
                    normalize: g.shared_bool("normalize"),
                    rescale: g.shared_bool("rescale"),
                    lambda: g.shared_num("lambda"),
                };
                ta.merge(
                    base.ok_or("this method needs a base model")?,
                    &members,
                    &shared,
                    g.shape,
                    rng,
                )?
            }
        })
    }
}
