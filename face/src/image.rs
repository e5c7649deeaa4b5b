//! Decoding uploaded photos with OpenCV: the type is decided by the bytes (not the file
//! name or declared type), and the image must actually decode.

use opencv::core::{Mat, MatTraitConst, Vector};
use opencv::imgcodecs;

/// Image container formats accepted for registration photos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (what phone cameras produce).
    Jpeg,
    /// PNG.
    Png,
}

impl ImageFormat {
    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }

    /// The format the bytes start with, if any.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else {
            None
        }
    }
}

/// What a decoded image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Container format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Why an image was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Not JPEG or PNG by its content.
    #[error("not a JPEG or PNG image")]
    UnknownFormat,
    /// The header looked right but the image does not decode (truncated or corrupt).
    #[error("the image is damaged and cannot be read")]
    Corrupt,
    /// Too small to be useful.
    #[error("the image is {width}×{height} pixels; at least {min_width}×{min_height} is needed")]
    TooSmall {
        /// Actual width.
        width: u32,
        /// Actual height.
        height: u32,
        /// Required width.
        min_width: u32,
        /// Required height.
        min_height: u32,
    },
}

/// Decodes `bytes` to a BGR image.
pub fn decode(bytes: &[u8]) -> Result<(ImageFormat, Mat), ImageError> {
    let format = ImageFormat::sniff(bytes).ok_or(ImageError::UnknownFormat)?;
    let buf = Vector::<u8>::from_slice(bytes);
    let mat =
        imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR).map_err(|_| ImageError::Corrupt)?;
    if mat.empty() {
        return Err(ImageError::Corrupt);
    }
    Ok((format, mat))
}

/// Decodes `bytes` and checks the size is at least `min_width`×`min_height`.
pub fn probe(bytes: &[u8], min_width: u32, min_height: u32) -> Result<ImageInfo, ImageError> {
    let (format, mat) = decode(bytes)?;
    let (width, height) = (mat.cols() as u32, mat.rows() as u32);
    if width < min_width || height < min_height {
        return Err(ImageError::TooSmall {
            width,
            height,
            min_width,
            min_height,
        });
    }
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

/// Encodes a solid test image (for tests and demo data) as JPEG or PNG.
pub fn synthetic(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    use opencv::core::{Scalar, CV_8UC3};
    let mat = Mat::new_rows_cols_with_default(
        height as i32,
        width as i32,
        CV_8UC3,
        Scalar::new(90.0, 140.0, 200.0, 0.0),
    )
    .expect("allocate image");
    let ext = match format {
        ImageFormat::Jpeg => ".jpg",
        ImageFormat::Png => ".png",
    };
    let mut out = Vector::<u8>::new();
    imgcodecs::imencode(ext, &mat, &mut out, &Vector::new()).expect("encode image");
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_real_jpeg_and_png() {
        let jpg = synthetic(320, 240, ImageFormat::Jpeg);
        assert_eq!(
            probe(&jpg, 100, 100).unwrap(),
            ImageInfo {
                format: ImageFormat::Jpeg,
                width: 320,
                height: 240
            }
        );
        let png = synthetic(200, 300, ImageFormat::Png);
        assert_eq!(probe(&png, 100, 100).unwrap().format, ImageFormat::Png);
    }

    #[test]
    fn refuses_small_truncated_and_foreign_bytes() {
        let jpg = synthetic(64, 48, ImageFormat::Jpeg);
        assert!(matches!(
            probe(&jpg, 100, 100),
            Err(ImageError::TooSmall { width: 64, .. })
        ));
        let big = synthetic(320, 240, ImageFormat::Png);
        assert_eq!(probe(&big[..40], 1, 1), Err(ImageError::Corrupt));
        assert_eq!(
            probe(b"%PDF-1.7 not an image", 1, 1),
            Err(ImageError::UnknownFormat)
        );
    }
}
