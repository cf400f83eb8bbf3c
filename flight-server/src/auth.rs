//! Who may call: every call carries `authorization: Bearer TOKEN`, or `Basic` credentials
//! whose password is the token (any user name), as the Flight handshake sends them.

use base64::Engine;
use base64::alphabet::STANDARD as ALPHABET;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// The check run before every call (a tonic interceptor).
#[derive(Clone)]
pub struct Auth {
    token: Option<String>,
}

impl Auth {
    pub fn new(token: Option<String>) -> Self {
        Auth { token }
    }

    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        match &self.token {
            None => Ok(request),
            Some(token) => authorize(request.metadata(), token).map(|()| request),
        }
    }
}

fn authorize(metadata: &MetadataMap, token: &str) -> Result<(), Status> {
    let Some(header) = metadata.get("authorization") else {
        return Err(Status::unauthenticated(
            "missing credentials: send the header 'authorization: Bearer TOKEN' with the server's \
             token (or Basic credentials with the token as password)",
        ));
    };
    let header = header.to_str().map_err(|_| Status::unauthenticated("unreadable authorization header"))?;
    let given = if let Some(bearer) = strip_scheme(header, "bearer") {
        bearer.to_string()
    } else if let Some(basic) = strip_scheme(header, "basic") {
        basic_password(basic)?
    } else {
        return Err(Status::unauthenticated("authorization must be 'Bearer TOKEN' or 'Basic ...'"));
    };
    if same(given.as_bytes(), token.as_bytes()) { Ok(()) } else { Err(Status::unauthenticated("invalid token")) }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = header.split_once(' ')?;
    head.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The password of `Basic base64(user:password)`.
fn basic_password(encoded: &str) -> Result<String, Status> {
    let bad = || Status::unauthenticated("invalid Basic credentials");
    // Go clients (ADBC) send it without padding.
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let bytes = GeneralPurpose::new(&ALPHABET, config).decode(encoded).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (_user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok(password.to_string())
}

/// Compares in time independent of where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    fn call(header: Option<&str>) -> Result<(), Status> {
        let mut request = Request::new(());
        if let Some(h) = header {
            request.metadata_mut().insert("authorization", h.parse().unwrap());
        }
        Auth::new(Some("s3cret".into())).check(request).map(|_| ())
    }

    #[test]
    fn bearer_and_basic() {
        assert!(call(Some("Bearer s3cret")).is_ok());
        assert!(call(Some("bearer s3cret")).is_ok());
        let basic = format!("Basic {}", STANDARD.encode("anyone:s3cret"));
        assert!(call(Some(&basic)).is_ok());
        let unpadded = format!("Basic {}", STANDARD_NO_PAD.encode("analyst:s3cret"));
        assert!(call(Some(&unpadded)).is_ok());
        let wrong = format!("Basic {}", STANDARD.encode("anyone:nope"));
        assert_eq!(call(Some(&wrong)).unwrap_err().message(), "invalid token");
        assert_eq!(call(Some("Bearer nope")).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert!(call(None).unwrap_err().message().starts_with("missing credentials"));
        assert!(call(Some("Token s3cret")).is_err());
        assert!(Auth::new(None).check(Request::new(())).is_ok());
    }
}
