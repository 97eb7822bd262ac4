//! `autoWire` and `AutoWiring` as JS sees them (`livesource-auto.js` calls `autoWire()`).

use wasm_bindgen::prelude::*;
use web_sys::Element;

use crate::api::auto::{auto_wire, AutoWiring};

/// The wiring of a document's `data-live-*` elements. `free()` unwires them all and closes
/// every connection the wiring opened.
#[wasm_bindgen(js_name = AutoWiring)]
pub struct JsAutoWiring {
    wiring: AutoWiring,
}

#[wasm_bindgen(js_class = AutoWiring)]
impl JsAutoWiring {
    /// How many elements are wired now.
    #[wasm_bindgen(getter)]
    pub fn elements(&self) -> u32 {
        self.wiring.elements() as u32
    }

    /// Sources open, one per `data-live-src` and share setting (a following tab's hold no connection).
    #[wasm_bindgen(getter)]
    pub fn connections(&self) -> u32 {
        self.wiring.connections() as u32
    }
}

/// Wires every `[data-live-src]` element under `root` (default: the document element) now and
/// whenever the DOM changes. Removing `root` itself from the document unwires nothing: call
/// `free()` on the wiring.
#[wasm_bindgen(js_name = autoWire)]
pub fn js_auto_wire(root: Option<Element>) -> Result<JsAutoWiring, JsError> {
    Ok(JsAutoWiring {
        wiring: auto_wire(root).map_err(super::thrown)?,
    })
}
