//! # adamant
//!
//! The Adam optimizer system of Apache MXNet, in Rust: MXNet's exact arithmetic (bit for bit
//! against MXNet 1.9.1's CPU kernels), its learning-rate schedulers, per-parameter multipliers
//! and update counters; dense, lazy and standard row-sparse updates; float16 and bfloat16
//! weights with or without float32 master weights; a fused step (SIMD, threads, whole batches)
//! that gives the same bits as the plain reference step; and optimizer state saved in a safe,
//! documented format ([`Updater::save`], [`Updater::load`]).
//!
//! ```
//! use adamant::{Param, Updater};
//! use serde_json::json;
//!
//! // Any optimizer the registry knows, with MXNet's argument names.
//! let adam = adamant::create("adam", &json!({
//!     "learning_rate": 0.01,
//!     "wd": 1e-4,
//!     "clip_gradient": 1.0,
//!     "lr_scheduler": {"type": "factor", "step": 100, "factor": 0.5, "base_lr": 0.01},
//! })).unwrap();
//! let mut updater = Updater::new(adam);
//!
//! // Weights are updated in place; gradients are only read.
//! let shape = [2, 3];
//! let mut weight = vec![0.5f32; 6];
//! for _ in 0..10 {
//!     let grad: Vec<f32> = weight.iter().map(|w| 2.0 * w).collect(); // d/dw of w^2
//!     updater.update(&mut [Param::dense(0, &shape, &mut weight, &grad)]).unwrap();
//! }
//! assert!(weight.iter().all(|&w| w < 0.5));
//! assert_eq!(updater.optimizer().base().num_update(), 10);
//! ```
//!
//! ## When to use it
//!
//! When the optimizer step itself costs time (large dense models stepped on the CPU,
//! embedding tables), or when results must match MXNet's or PyTorch's. Every optimizer takes a
//! `rule`: `"mxnet"` (the default) is MXNet's arithmetic bit for bit, hyper-parameters read as
//! MXNet's own parser reads them; `"torch"` is `torch.optim`'s (see [`Rule`]). The registry
//! knows [`OPTIMIZERS`]: Adam ([`optimizer::adam`]), AdamW ([`optimizer::adamw`]), and MXNet's
//! Adamax ([`optimizer::adamax`]), Nadam ([`optimizer::nadam`]) and LAMB ([`optimizer::lamb`]),
//! with MXNet 2.0's or 1.x's formula ([`MxnetVersion`]).
//!
//! ## Layers
//!
//! The kernel holds pure loops over slices, generic over a rule's element formula (reference
//! and SIMD loops at each instruction set, master weights, row-sparse loops, threads); each
//! optimizer turns configuration and counters into the scalars of each step and picks its
//! formula ([`Optimizer`], built by [`create`]); [`Optimizer::update`] steps a batch of
//! borrowed weights, gradients and named state arrays ([`StateMut`]) that may live anywhere;
//! [`Updater`] owns per-parameter state on top of it; [`checkpoint`] saves and loads it.
//!
//! ## Adding an optimizer
//!
//! An optimizer is one rule file in `src/optimizer/` and a line in the registry; the batch
//! machinery (checks, counting, scheduler, multipliers, dtype dispatch, every loop, threads,
//! checkpoints) is shared and does not change. The file holds:
//!
//! 1. its public configuration (`FooConfig`, whose `Default` is MXNet's defaults) and the table
//!    of its own hyper-parameters (`impl Fields`: one line per name, the registry's JSON both
//!    ways follows from it);
//! 2. its `impl Algorithm`: how it validates its values (as the kernel reads them), the named
//!    state arrays it keeps ([`Layout`]), the scalars of one step from the update count, rate
//!    and decay (computed once per distinct triple in a batch), and `apply`, which hands the
//!    step's formula to `dispatch::step`;
//! 3. its formula: a small `Copy` struct of the step's scalars in the compute type with
//!    `impl Formula<C, K>` (one `#[inline(always)]` function of one element, its weight,
//!    gradient and `K` state values) and a `Factory` that converts the scalars to `C`. Options
//!    that change the arithmetic's structure are const parameters, so the SIMD loops compile
//!    them away.
//!
//! Then `pub mod foo;` in `optimizer/mod.rs`, its name in the registry (`optimizer/registry.rs`),
//! its re-export in `lib.rs`, and its golden family out of the harness's `PENDING` list.
//! AdamW, Adamax, Nadam and LAMB were added this way (Adamax: 240 lines and one registry line;
//! LAMB, a rule that needs each tensor's norms first, brings its own two-pass loop).
//!
//! ## When not to use it
//!
//! On a GPU (this is a CPU implementation).

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod aliases;
pub mod checkpoint;
pub mod error;
pub mod global_norm;
mod index_map;
mod json_fields;
mod kernel;
pub mod lr_scheduler;
pub mod optimizer;
pub mod param;
pub mod tensor;
pub mod updater;

/// The README's example, compiled and run as a doctest so that it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use checkpoint::ParamSpec;
pub use error::{Error, Result};
/// The `half` crate, whose `f16` and `bf16` are the half-precision weight types.
pub use half;
pub use kernel::element::{Buffer, DType, DataMut, DataRef, Element};
pub use kernel::isa::Isa;
pub use kernel::pages::advise_huge_pages;
/// Asks the CPU to start loading a slice (its first 2 KiB) into the cache, as the lazy step
/// does a few rows ahead (`adamant bench`'s row-gather roofline does the same). A hint: it
/// never faults and changes nothing observable.
///
/// ```
/// adamant::prefetch(&[1.0f32; 64]);
/// ```
pub use kernel::prefetch::prefetch;
pub use lr_scheduler::{
    CosineScheduler, FactorScheduler, LrScheduler, MultiFactorScheduler, PastMaxUpdate, PolyScheduler,
    Warmup, WarmupMode,
};
pub use optimizer::adam::AdamConfig;
pub use optimizer::adamax::AdamaxConfig;
pub use optimizer::adamw::{AdamWConfig, AdamWKernel};
pub use optimizer::base::OptimizerBase;
pub use optimizer::config::{Multipliers, OptimizerConfig};
pub use optimizer::interface::{Optimizer, ParamStep};
pub use optimizer::lamb::{LambConfig, LambKernel};
pub use optimizer::nadam::NadamConfig;
pub use optimizer::options::{HalfMath, MxnetVersion, Rule, WdOrder};
pub use optimizer::registry::{create, OPTIMIZERS};
pub use optimizer::state::{Layout, State, StateMut, MASTER, MAX_ARRAYS as MAX_STATE_ARRAYS};
pub use param::{Grad, Param, RowSparseRef};
pub use tensor::{TensorMut, TensorRef};
pub use updater::{StepOptions, StepReport, Updater};
