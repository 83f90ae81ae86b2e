//! Where tensors live: the CPU, or a CUDA GPU when the crate is built with the `cuda` feature.

use candle_core::Device;
use mkt_core::params::Params;
use mkt_core::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    /// CUDA when this build has it and a GPU answers, else the CPU.
    Auto,
}

impl DeviceChoice {
    pub const NAMES: [&'static str; 3] = ["cpu", "cuda", "auto"];

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            _ => Err(Error::unknown("device", name, &Self::NAMES)),
        }
    }

    /// `params.device` when the params name one.
    pub fn given(p: &Params) -> Result<Option<Self>> {
        match p.value("device") {
            None => Ok(None),
            Some(_) => Self::parse(p.choice("device", "auto", &Self::NAMES)?).map(Some),
        }
    }

    /// `params.device`, else `default` (the `mkt.device` setting).
    pub fn from_params(p: &Params, default: &str) -> Result<Self> {
        match Self::given(p)? {
            Some(d) => Ok(d),
            None => Self::parse(default),
        }
    }

    pub fn open(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda => cuda(),
            DeviceChoice::Auto => Ok(cuda().unwrap_or(Device::Cpu)),
        }
    }
}

/// Whether this build can use a GPU at all.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Device::new_cuda(0).map_err(|e| Error::NotSupported(format!("no usable CUDA device: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    Err(Error::NotSupported(
        "device 'cuda' is not available: this build of pg_marketing has no CUDA support (build \
         with the cargo feature \"cuda\"); use device 'cpu' or 'auto'"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_always_opens_and_auto_falls_back() {
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        if !CUDA_BUILT {
            assert!(DeviceChoice::Auto.open().unwrap().is_cpu());
            let e = DeviceChoice::Cuda.open().unwrap_err().to_string();
            assert!(e.contains("no CUDA support"), "{e}");
        }
        assert!(DeviceChoice::parse("tpu").is_err());
    }
}
