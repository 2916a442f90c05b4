//! Which instruction set the fast loops use: detected once, cached, and lowerable for tests
//! and benchmarks.

use std::sync::atomic::{AtomicU8, Ordering};

/// An instruction-set level the fast loops are compiled for.
///
/// On x86-64 the same loops are built three times: for the baseline (SSE2), for AVX2 (with
/// F16C), and for AVX-512F. On other architectures only the baseline exists (on aarch64 that
/// includes NEON). No level enables FMA: contracting `a * b + c` would change the rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// The architecture's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// AVX2 and F16C.
    Avx2,
    /// AVX-512F (with AVX2 and F16C).
    Avx512,
}

const UNKNOWN: u8 = u8::MAX;
static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

impl Isa {
    fn from_u8(level: u8) -> Isa {
        match level {
            2 => Isa::Avx512,
            1 => Isa::Avx2,
            _ => Isa::Baseline,
        }
    }

    /// The best level this CPU supports.
    pub fn detected() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 =
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c");
            if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Every level this CPU can run, lowest first.
    pub fn available() -> Vec<Isa> {
        [Isa::Baseline, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= Isa::detected()).collect()
    }

    /// The level in use: the detected one unless [`Isa::set`] lowered it. Detection runs once.
    #[inline]
    pub fn current() -> Isa {
        match LEVEL.load(Ordering::Relaxed) {
            UNKNOWN => {
                let isa = Isa::detected();
                LEVEL.store(isa as u8, Ordering::Relaxed);
                isa
            }
            level => Isa::from_u8(level),
        }
    }

    /// Uses `self` from now on, process-wide (to compare levels in tests and benchmarks).
    /// Returns the level in force: `self`, or the detected level if the CPU lacks `self`.
    ///
    /// ```
    /// use adamant::Isa;
    /// assert_eq!(Isa::Baseline.set(), Isa::Baseline);
    /// Isa::detected().set();
    /// ```
    pub fn set(self) -> Isa {
        let isa = self.min(Isa::detected());
        LEVEL.store(isa as u8, Ordering::Relaxed);
        isa
    }
}

/// Defines `$name` (generic parameters `[..]`, their names `names[..]`), which runs `$body` compiled
/// for the instruction set in use.
///
/// `$body` is `#[inline(always)]` and so is everything it calls, so each copy below is the
/// whole loop compiled with that copy's target features.
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident[$($gp:tt)*] names[$($gn:tt)*]($($arg:ident: $ty:ty),*) => $body:ident[$($ga:tt)*]) => {
        $(#[$attr])*
        #[inline]
        $vis fn $name<$($gp)*>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,f16c")]
            fn avx2<$($gp)*>($($arg: $ty),*) {
                $body::<$($ga)*>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,f16c")]
            fn avx512<$($gp)*>($($arg: $ty),*) {
                $body::<$($ga)*>($($arg),*)
            }
            match $crate::kernel::isa::Isa::current() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Isa::current() is Avx512 only where the CPU has AVX-512F, AVX2 and F16C.
                $crate::kernel::isa::Isa::Avx512 => unsafe { avx512::<$($gn)*>($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Isa::current() is Avx2 only where the CPU has AVX2 and F16C.
                $crate::kernel::isa::Isa::Avx2 => unsafe { avx2::<$($gn)*>($($arg),*) },
                _ => $body::<$($ga)*>($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;
