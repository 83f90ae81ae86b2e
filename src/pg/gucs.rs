//! Settings (GUCs) of the extension.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

/// Where neural models train when their params name no device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PostgresGucEnum)]
pub enum Device {
    #[name = c"auto"]
    Auto,
    #[name = c"cpu"]
    Cpu,
    #[name = c"cuda"]
    Cuda,
}

pub static DEVICE: GucSetting<Device> = GucSetting::<Device>::new(Device::Auto);

pub fn device_name() -> &'static str {
    match DEVICE.get() {
        Device::Auto => "auto",
        Device::Cpu => "cpu",
        Device::Cuda => "cuda",
    }
}

/// Threads used by one training or batch-scoring call; 0 means one per CPU core.
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Seconds between progress NOTICEs of a long call; 0 turns them off.
pub static PROGRESS_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);

/// Jobs (mkt.submit_job) of one database that run at once.
pub static MAX_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(2);

/// Megabytes of decoded models one backend keeps cached.
pub static MODEL_CACHE_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);

/// Serving backends map deployed models from shared files instead of decoding private copies.
pub static SHARED_MODELS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Megabytes one training, profiling or cleaning call may use.
pub static MAX_MEMORY_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);

/// Folder of the sentence encoder mkt.embed runs; unset means `<sharedir>/pg_marketing/all-MiniLM-L6-v2`,
/// where `make text-model` installs it.
pub static TEXT_MODEL: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(None);

pub fn init() {
    GucRegistry::define_int_guc(
        c"mkt.max_workers",
        c"Jobs of one database (mkt.submit_job) that run in background workers at once.",
        c"Further jobs wait queued; each also needs a free slot of max_worker_processes.",
        &MAX_WORKERS,
        1,
        1024,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"mkt.device",
        c"Device neural models train on when their params name none: auto, cpu or cuda.",
        c"auto uses a CUDA GPU when this build has CUDA support and one answers, else the CPU; cuda fails when there is none.",
        &DEVICE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"mkt.max_memory_mb",
        c"Memory one training, mkt.profile or mkt.clean call may use, in megabytes.",
        c"Training that would need more (estimated from the data read and the params) fails before allocating the model; profile and clean divide it between the sorts and hash tables of each pass by setting work_mem for their own statements, beyond which they spill to disk.",
        &MAX_MEMORY_MB,
        4,
        1 << 20,
        GucContext::Userset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"mkt.model_cache_mb",
        c"Memory one backend may use for cached models, in megabytes.",
        c"When a newly loaded model pushes the cache over this, the least recently used other models are dropped; the model being served always stays.",
        &MODEL_CACHE_MB,
        1,
        1 << 20,
        GucContext::Userset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_bool_guc(
        c"mkt.shared_models",
        c"Serve models from read-only file mappings shared by all backends.",
        c"On: a deployed version and its serving index are written once per server under pg_marketing_models in the data directory (by the deploying transaction, or by the first caller while others wait) and every backend maps those files, so a deployed model is held once per server. Off: each backend decodes a private copy.",
        &SHARED_MODELS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"mkt.progress_interval",
        c"Seconds between progress NOTICEs of long pg_marketing calls (0: none).",
        c"Training reports its phase and how far it is at most this often; calls shorter than this stay silent.",
        &PROGRESS_INTERVAL,
        0,
        86400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"mkt.threads",
        c"Threads one pg_marketing call may use for training and batch scoring.",
        c"0 uses one thread per CPU core. Each call builds its own pool; serving a single user is single-threaded.",
        &THREADS,
        0,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"mkt.text_model",
        c"Folder of the sentence encoder (all-MiniLM-L6-v2) that mkt.embed runs.",
        c"Unset means the folder make text-model installs: <sharedir>/pg_marketing/all-MiniLM-L6-v2. It must hold config.json, tokenizer.json and model.safetensors. Superuser-only, since the server reads the files it names.",
        &TEXT_MODEL,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: called from _PG_init on the main thread with a static C string.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"mkt".as_ptr()) };
}
