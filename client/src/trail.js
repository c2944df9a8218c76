// Decay: the frames before the one on screen stay drawn, fading toward the background, for as long as the
// decay time (by their capture times, so a paused stream keeps its trail). For sparse sensors and slow links,
// like rviz's "decay time". Each kept frame is a copy: the decoder's buffers cycle through three only.
import * as THREE from 'three';

/** Most frames kept, whatever the decay time: 3 s of a 10 Hz sensor. */
export const MAX_TRAIL_FRAMES = 30;

class Slot {
  constructor(material) {
    this.capacity = 0;
    this.buffer = null;
    this.colours = null;
    this.captureTime = 0;
    this.count = 0;
    this.geometry = new THREE.BufferGeometry();
    this.material = material;
    this.points = new THREE.Points(this.geometry, material);
    this.points.frustumCulled = false;
    this.points.visible = false;
    this.points.renderOrder = 1; // after the newest frame: where a kept point and a new one coincide, the new one shows
  }

  /** Keep a copy of ``count`` points (and their colours, or null). */
  fill(points, colours, count, captureTime) {
    if (count > this.capacity) {
      this.capacity = Math.ceil(count * 1.25);
      this.buffer = new Float32Array(this.capacity * 4);
      this.colours = new Uint8Array(this.capacity * 3);
      const interleaved = new THREE.InterleavedBuffer(this.buffer, 4);
      this.geometry.dispose();
      this.geometry = new THREE.BufferGeometry();
      this.geometry.setAttribute('position', new THREE.InterleavedBufferAttribute(interleaved, 3, 0));
      this.geometry.setAttribute('intensity', new THREE.InterleavedBufferAttribute(interleaved, 1, 3));
      this.geometry.setAttribute('rgb', new THREE.BufferAttribute(this.colours, 3, true));
      this.geometry.boundingSphere = new THREE.Sphere(new THREE.Vector3(), 1e4);
      this.points.geometry = this.geometry;
    } else {
      this.geometry.getAttribute('position').data.needsUpdate = true;
      this.geometry.getAttribute('rgb').needsUpdate = true;
    }
    this.buffer.set(points.subarray(0, count * 4));
    if (colours) this.colours.set(colours.subarray(0, count * 3));
    this.material.uniforms.hasColour.value = colours !== null;
    this.geometry.setDrawRange(0, count);
    this.count = count;
    this.captureTime = captureTime;
  }

  release() {
    this.points.visible = false;
    this.count = 0;
    this.capacity = 0;
    this.buffer = null;
    this.colours = null;
    this.geometry.dispose();
  }
}

export class Trail {
  /**
   * @param {THREE.Scene} scene
   * @param {THREE.ShaderMaterial} material the newest frame's: kept frames share its uniforms but their own fade
   */
  constructor(scene, material) {
    this.scene = scene;
    this.baseMaterial = material;
    this.decay = 0;
    /** Kept frames, oldest first. */
    this.slots = [];
  }

  /** Keep frames this many seconds (0: none, and their memory is let go). */
  setDecay(seconds) {
    this.decay = seconds;
    if (seconds > 0) return;
    for (const slot of this.slots) {
      this.scene.remove(slot.points);
      slot.release();
    }
    this.slots = [];
  }

  /** A frame leaves the screen (a newer one replaces it): keep a copy while decay is on. */
  keep(points, colours, count, captureTime) {
    if (!(this.decay > 0) || count === 0) return;
    let slot;
    if (this.slots.length < MAX_TRAIL_FRAMES) {
      const uniforms = { ...this.baseMaterial.uniforms, fade: { value: 1 }, hasColour: { value: false } };
      slot = new Slot(new THREE.ShaderMaterial({
        vertexShader: this.baseMaterial.vertexShader, fragmentShader: this.baseMaterial.fragmentShader, uniforms,
      }));
      this.scene.add(slot.points);
    } else {
      slot = this.slots.shift(); // the oldest makes room
    }
    slot.fill(points, colours, count, captureTime);
    this.slots.push(slot);
  }

  /** Fade the kept frames by their age behind the newest capture time; returns how many are drawn. */
  age(newestCaptureTime) {
    let shown = 0;
    for (const slot of this.slots) {
      const age = newestCaptureTime - slot.captureTime;
      const visible = slot.count > 0 && age > 0 && age <= this.decay;
      slot.points.visible = visible;
      if (!visible) continue;
      slot.material.uniforms.fade.value = 1 - age / (this.decay * 1.15); // the oldest kept still shows a little
      shown += 1;
    }
    return shown;
  }
}
