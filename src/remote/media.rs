//! What a fetched file is, and whether it may stand where the client put its URL. The server's
//! Content-Type is trusted when it is specific; a generic or missing one is replaced by the
//! file's magic bytes, then by the URL's extension (object stores often serve everything as
//! `application/octet-stream`).
use url::Url;

/// Where the URL stood in the request: it decides which media types are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// OpenAI `image_url`, Anthropic `image` blocks.
    Image,
    /// Anthropic `document` blocks, Responses `input_file` URLs.
    Document,
}

impl Purpose {
    pub fn noun(self) -> &'static str {
        match self {
            Purpose::Image => "image",
            Purpose::Document => "document",
        }
    }

    /// What `Accept` asks for and what error messages say was expected.
    pub fn expected(self) -> &'static str {
        match self {
            Purpose::Image => "an image (image/*)",
            Purpose::Document => "a PDF, text or image file",
        }
    }

    pub fn accept_header(self) -> &'static str {
        match self {
            Purpose::Image => "image/*",
            Purpose::Document => "application/pdf, text/*, image/*;q=0.8",
        }
    }

    /// Gemini reads raster images, PDFs and text. SVG is refused: it is a document with
    /// scripts rather than a picture, and Gemini does not take it.
    pub fn accepts(self, mime: &str) -> bool {
        let image = mime.starts_with("image/") && mime != "image/svg+xml";
        match self {
            Purpose::Image => image,
            Purpose::Document => {
                image
                    || mime.starts_with("text/")
                    || matches!(
                        mime,
                        "application/pdf" | "application/json" | "application/xml"
                    )
            }
        }
    }
}

/// The media type named by a Content-Type header, lower-cased and without parameters; `None`
/// when the header is missing or says nothing specific.
pub fn declared(content_type: Option<&str>) -> Option<String> {
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    let generic = essence.is_empty()
        || !essence.contains('/')
        || matches!(
            essence.as_str(),
            "application/octet-stream"
                | "binary/octet-stream"
                | "application/binary"
                | "application/x-download"
                | "application/force-download"
                | "application/unknown"
        );
    (!generic).then_some(essence)
}

/// The type of a body whose header said nothing specific.
pub fn guessed(body: &[u8], url: &Url) -> Option<String> {
    sniff(body).map(str::to_string).or_else(|| {
        mime_guess::from_path(url.path())
            .first_raw()
            .map(str::to_string)
    })
}

fn sniff(b: &[u8]) -> Option<&'static str> {
    Some(match b {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        [
            _,
            _,
            _,
            _,
            b'f',
            b't',
            b'y',
            b'p',
            b'h',
            b'e',
            b'i',
            b'c',
            ..,
        ] => "image/heic",
        [b'%', b'P', b'D', b'F', b'-', ..] => "application/pdf",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_headers_win_and_generic_ones_fall_back_to_content() {
        assert_eq!(
            declared(Some("Image/PNG; charset=binary")).as_deref(),
            Some("image/png")
        );
        assert_eq!(declared(Some("application/octet-stream")), None);
        assert_eq!(declared(Some("")), None);
        assert_eq!(declared(None), None);
        let url = Url::parse("https://cdn.test/files/report.pdf?sig=1").unwrap();
        assert_eq!(
            guessed(b"\x89PNG\r\n\x1a\n....", &url).as_deref(),
            Some("image/png")
        );
        assert_eq!(
            guessed(b"plain bytes", &url).as_deref(),
            Some("application/pdf")
        );
        let bare = Url::parse("https://cdn.test/blob").unwrap();
        assert_eq!(guessed(b"plain bytes", &bare), None);
    }

    #[test]
    fn each_purpose_accepts_its_types() {
        assert!(Purpose::Image.accepts("image/jpeg"));
        assert!(!Purpose::Image.accepts("image/svg+xml"));
        assert!(!Purpose::Image.accepts("text/html"));
        assert!(!Purpose::Image.accepts("application/pdf"));
        assert!(Purpose::Document.accepts("application/pdf"));
        assert!(Purpose::Document.accepts("text/plain"));
        assert!(Purpose::Document.accepts("image/png"));
        assert!(!Purpose::Document.accepts("application/zip"));
        assert!(!Purpose::Document.accepts("video/mp4"));
    }
}
