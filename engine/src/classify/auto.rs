use super::{Always, Classifier, Http, Input, Verdict};

/// gRPC rules when a `tonic::Status` is in the error's `source()` chain (feature `tonic`),
/// HTTP rules when an HTTP carrier is, the [`Always`] rules otherwise. The default
/// classifier.
#[derive(Debug, Clone, Default)]
pub struct Auto {
    http: Http,
}

impl Auto {
    /// An `auto` classifier whose HTTP half is `http` (extra codes, carriers).
    pub fn with_http(http: Http) -> Auto {
        Auto { http }
    }
}

impl Classifier for Auto {
    fn values_succeed(&self) -> bool {
        true
    }

    fn classify(&self, input: &Input<'_>) -> Verdict {
        #[cfg(feature = "tonic")]
        if super::Grpc::find_status(input).is_some() {
            return super::Grpc::default().classify(input);
        }
        if self.http.find_carrier(input).is_some() {
            self.http.classify(input)
        } else {
            Always.classify(input)
        }
    }
}
