//! One picture to look at: a decoded photo or a camera frame, held as an OpenCV BGR image.
//! Frames live in memory only; nothing here writes them anywhere.

use opencv::core::{Mat, MatTraitConst, MatTraitConstManual, Size, Vector, VectorToVec};
use opencv::imgcodecs;
use opencv::imgproc;

use crate::image::{self, ImageError};

/// A decoded image (8-bit BGR).
#[derive(Debug)]
pub struct Frame {
    bgr: Mat,
}

impl Clone for Frame {
    fn clone(&self) -> Self {
        Self {
            bgr: self.bgr.try_clone().expect("copy an image in memory"),
        }
    }
}

impl Frame {
    /// Decodes a JPEG or PNG, refusing more than `max_pixels` pixels from the header.
    pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Self, ImageError> {
        let (_, bgr) = image::decode_limited(bytes, max_pixels)?;
        Ok(Self { bgr })
    }

    /// Wraps an 8-bit, 3-channel BGR image (what OpenCV decoders produce).
    pub fn from_bgr(bgr: Mat) -> Result<Self, ImageError> {
        if bgr.empty() || bgr.typ() != opencv::core::CV_8UC3 {
            return Err(ImageError::Corrupt);
        }
        Ok(Self { bgr })
    }

    /// Builds a frame from packed RGB bytes (`width × height × 3`), e.g. a decoded video frame.
    pub fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Self, ImageError> {
        if width == 0 || height == 0 || rgb.len() != width as usize * height as usize * 3 {
            return Err(ImageError::Corrupt);
        }
        let flat = Mat::from_slice(rgb).map_err(|_| ImageError::Corrupt)?;
        let rgb_mat = flat
            .reshape(3, height as i32)
            .map_err(|_| ImageError::Corrupt)?
            .try_clone()
            .map_err(|_| ImageError::Corrupt)?;
        let mut bgr = Mat::default();
        imgproc::cvt_color_def(&rgb_mat, &mut bgr, imgproc::COLOR_RGB2BGR)
            .map_err(|_| ImageError::Corrupt)?;
        Ok(Self { bgr })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.bgr.cols() as u32
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.bgr.rows() as u32
    }

    /// The BGR image.
    pub fn bgr(&self) -> &Mat {
        &self.bgr
    }

    /// Packed RGB bytes, row by row (what dlib wants).
    pub fn to_rgb_bytes(&self) -> Vec<u8> {
        let mut rgb = Mat::default();
        imgproc::cvt_color_def(&self.bgr, &mut rgb, imgproc::COLOR_BGR2RGB)
            .expect("colour conversion of a valid BGR image");
        let rgb = if rgb.is_continuous() {
            rgb
        } else {
            rgb.try_clone().expect("copy")
        };
        rgb.data_bytes().expect("continuous 8-bit image").to_vec()
    }

    /// 8-bit grey version.
    pub fn gray(&self) -> Mat {
        let mut g = Mat::default();
        imgproc::cvt_color_def(&self.bgr, &mut g, imgproc::COLOR_BGR2GRAY)
            .expect("colour conversion of a valid BGR image");
        g
    }

    /// A copy scaled to `width × height` (area averaging when shrinking).
    pub fn resized(&self, width: u32, height: u32) -> Frame {
        let mut out = Mat::default();
        let shrinking = width < self.width();
        imgproc::resize(
            &self.bgr,
            &mut out,
            Size::new(width.max(1) as i32, height.max(1) as i32),
            0.0,
            0.0,
            if shrinking {
                imgproc::INTER_AREA
            } else {
                imgproc::INTER_LINEAR
            },
        )
        .expect("resize a valid image");
        Frame { bgr: out }
    }

    /// The part of this frame at (`x`, `y`) of `width × height`, clamped to the frame
    /// (e.g. a webcam-like 4:3 view cut from a portrait photo).
    pub fn cropped(&self, x: u32, y: u32, width: u32, height: u32) -> Frame {
        let x = x.min(self.width().saturating_sub(1));
        let y = y.min(self.height().saturating_sub(1));
        let w = width.clamp(1, self.width() - x);
        let h = height.clamp(1, self.height() - y);
        let rect = opencv::core::Rect::new(x as i32, y as i32, w as i32, h as i32);
        let roi = Mat::roi(&self.bgr, rect).expect("rectangle inside the frame");
        Frame {
            bgr: roi.try_clone().expect("copy of a valid region"),
        }
    }

    /// This frame shrunk so that its longer side is at most `max_side` (or itself), and
    /// the scale factor applied (≤ 1).
    pub fn fit_within(&self, max_side: u32) -> (Frame, f64) {
        let long = self.width().max(self.height());
        if long <= max_side {
            return (self.clone(), 1.0);
        }
        let s = max_side as f64 / long as f64;
        let w = (self.width() as f64 * s).round() as u32;
        let h = (self.height() as f64 * s).round() as u32;
        (self.resized(w, h), s)
    }

    /// Encodes as JPEG (for evidence frames).
    pub fn to_jpeg(&self, quality: i32) -> Vec<u8> {
        let mut out = Vector::<u8>::new();
        let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
        imgcodecs::imencode(".jpg", &self.bgr, &mut out, &params).expect("encode JPEG");
        out.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trip_and_scaling() {
        let mut rgb = Vec::new();
        for y in 0..4u8 {
            for x in 0..6u8 {
                rgb.extend_from_slice(&[x * 40, y * 60, 7]);
            }
        }
        let f = Frame::from_rgb(6, 4, &rgb).unwrap();
        assert_eq!((f.width(), f.height()), (6, 4));
        assert_eq!(f.to_rgb_bytes(), rgb);
        let (small, s) = f.fit_within(3);
        assert_eq!((small.width(), small.height(), s), (3, 2, 0.5));
        assert!(Frame::from_rgb(6, 4, &rgb[1..]).is_err());
        // Cropping keeps the pixels of the region and clamps to the frame.
        let c = f.cropped(2, 1, 3, 2);
        assert_eq!((c.width(), c.height()), (3, 2));
        assert_eq!(&c.to_rgb_bytes()[..3], &[80, 60, 7]);
        let edge = f.cropped(5, 3, 10, 10);
        assert_eq!((edge.width(), edge.height()), (1, 1));
        assert_eq!(edge.to_rgb_bytes(), vec![200, 180, 7]);
    }
}
