//! The errors the bindings throw. Each is a JS `Error` whose `name` is one of [`ErrorKind`]'s
//! names; the package's JS wrapper turns it into the matching subclass of `BerylError`, so
//! callers can tell a message that failed to decode from a call that was wrong.

use wasm_bindgen::JsValue;

/// What went wrong, as the JS wrapper classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A replication message or encoded diff could not be decoded.
    Decode,
    /// A topic, key, pid or meta was refused (too long, not a JSON object, reserved key...).
    InvalidInput,
    /// `track` of a (topic, key, pid) this replica already tracks.
    AlreadyTracked,
    /// `update` of a (topic, key, pid) this replica does not track.
    NotTracked,
    /// A liveness verdict about the state's own replica.
    LocalReplica,
    /// An argument of the wrong shape or out of range (a negative counter, a bad incarnation).
    InvalidArgument,
}

impl ErrorKind {
    /// The `code` of the matching JS error (`BerylError.code`).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Decode => "decode",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::AlreadyTracked => "already_tracked",
            ErrorKind::NotTracked => "not_tracked",
            ErrorKind::LocalReplica => "local_replica",
            ErrorKind::InvalidArgument => "invalid_argument",
        }
    }

    /// The `name` the JS error carries; the wrapper maps it to a class.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Decode => "BerylDecodeError",
            ErrorKind::InvalidInput => "BerylInvalidInputError",
            ErrorKind::AlreadyTracked => "BerylAlreadyTrackedError",
            ErrorKind::NotTracked => "BerylNotTrackedError",
            ErrorKind::LocalReplica => "BerylLocalReplicaError",
            ErrorKind::InvalidArgument => "BerylInvalidArgumentError",
        }
    }
}

/// An error on its way to JS: a kind and a message that tells the caller what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingError {
    /// The classification.
    pub kind: ErrorKind,
    /// The message shown to the user.
    pub message: String,
    /// For decode errors, the refusal's name (`"BadMagic"`, `"TooDeep"`...), for programs.
    pub reason: Option<String>,
}

impl BindingError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        BindingError {
            kind,
            message: message.into(),
            reason: None,
        }
    }

    /// A message that failed to decode, with the decoder's refusal named in `reason`.
    pub fn decode(error: &beryl_core::wire::DecodeError) -> Self {
        let debug = format!("{error:?}");
        let name_end = debug
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(debug.len());
        BindingError {
            kind: ErrorKind::Decode,
            message: error.to_string(),
            reason: Some(debug[..name_end].to_owned()),
        }
    }

    /// A wrongly shaped or out-of-range argument.
    pub fn argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

impl From<BindingError> for JsValue {
    fn from(error: BindingError) -> JsValue {
        let js = js_sys::Error::new(&error.message);
        js.set_name(error.kind.name());
        if let Some(reason) = &error.reason {
            // Setting a property on a fresh Error object cannot fail.
            let _ = js_sys::Reflect::set(
                &js,
                &JsValue::from_str("reason"),
                &JsValue::from_str(reason),
            );
        }
        js.into()
    }
}

impl From<beryl_core::TrackError> for BindingError {
    fn from(error: beryl_core::TrackError) -> Self {
        let kind = match error {
            beryl_core::TrackError::AlreadyTracked { .. } => ErrorKind::AlreadyTracked,
            beryl_core::TrackError::Invalid(_) => ErrorKind::InvalidInput,
        };
        BindingError::new(kind, error.to_string())
    }
}

impl From<beryl_core::UpdateError> for BindingError {
    fn from(error: beryl_core::UpdateError) -> Self {
        let kind = match error {
            beryl_core::UpdateError::NotTracked { .. } => ErrorKind::NotTracked,
            beryl_core::UpdateError::Invalid(_) => ErrorKind::InvalidInput,
        };
        BindingError::new(kind, error.to_string())
    }
}

impl From<beryl_core::MetaError> for BindingError {
    fn from(error: beryl_core::MetaError) -> Self {
        BindingError::new(ErrorKind::InvalidInput, error.to_string())
    }
}

impl From<beryl_core::LivenessError> for BindingError {
    fn from(error: beryl_core::LivenessError) -> Self {
        BindingError::new(ErrorKind::LocalReplica, error.to_string())
    }
}

impl From<beryl_core::InputError> for BindingError {
    fn from(error: beryl_core::InputError) -> Self {
        BindingError::new(ErrorKind::InvalidInput, error.to_string())
    }
}
