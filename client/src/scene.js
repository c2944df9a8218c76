// three.js scene: preallocated interleaved buffers (x, y, z, intensity per point): one on screen,
// one finished and waiting for the next render, one being filled by the decoder; beside each, a colour
// buffer (r, g, b bytes per point) for frames whose source has colours. Older frames fade out behind
// (trail.js), picked points are marked, and the camera has preset views.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

import { turboLut, LUT_SIZE } from './colormap.js';
import { Trail } from './trail.js';

export const ColorMode = Object.freeze({ intensity: 0, height: 1, range: 2, source: 3 });

const vertexShader = /* glsl */ `
  attribute float intensity;
  attribute vec3 rgb;
  uniform float pointSize;
  uniform int colorMode;
  uniform bool hasColour;
  uniform float valueMin;
  uniform float valueMax;
  uniform float fade;  // 1 for the newest frame; less for the older ones decay keeps
  uniform vec3 background;
  uniform sampler2D lut;  // the colour map, lowest value first (colormap.js)
  varying vec3 vColor;

  void main() {
    if (intensity < 0.0) {  // a point of a lost chunk: push it outside the clip volume
      gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
      gl_PointSize = 0.0;
      return;
    }
    float value = colorMode == 1 ? position.z : (colorMode == 2 ? length(position) : intensity);
    float v = clamp((value - valueMin) / (valueMax - valueMin), 0.0, 1.0);
    vec3 c = colorMode == 3 && hasColour ? rgb : texture2D(lut, vec2((v * 255.0 + 0.5) / 256.0, 0.5)).rgb;
    vColor = mix(background, c, fade);
    gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
    gl_PointSize = pointSize;
  }
`;

const fragmentShader = /* glsl */ `
  varying vec3 vColor;
  void main() { gl_FragColor = vec4(vColor, 1.0); }
`;

const BACKGROUND = 0x0b0d12;

/** Camera views: where the camera is and what it looks at (the sensor is at the origin, x forward, z up). */
export const VIEWS = Object.freeze({
  reset: { position: [-28, -6, 22], target: [6, 0, -1.7] },
  orbit: { position: [-28, -6, 22], target: [6, 0, -1.7], autoRotate: true },
  top: { position: [-0.01, 0, 90], target: [0, 0, 0] }, // straight down, the sensor's forward up the screen
  follow: { position: [-14, 0, 6], target: [14, 0, 0] }, // behind and above the sensor, looking where it looks
});

export class PointScene {
  /** @param {HTMLElement} container */
  constructor(container, { capacity = 131072 } = {}) {
    /** Times the scene was drawn (a frame, a colour change, a camera move). */
    this.renders = 0;
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: false });
    this.renderer.domElement.setAttribute('aria-label', 'point cloud; drag to orbit, wheel or pinch to zoom, click a point to measure');
    this.renderer.setPixelRatio(window.devicePixelRatio);
    this.renderer.setSize(container.clientWidth, container.clientHeight);
    container.appendChild(this.renderer.domElement);

    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(BACKGROUND);
    this.camera = new THREE.PerspectiveCamera(60, container.clientWidth / container.clientHeight, 0.1, 1000);
    this.camera.up.set(0, 0, 1); // LiDAR frame: z up
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.autoRotateSpeed = 1.0; // a turn a minute
    this.setView('reset');
    // render on demand: a software-rendered (or battery-powered) viewer should not redraw
    // 120k points 60 times a second when the picture changes 10 times a second
    this.dirty = true;
    this.controls.addEventListener('change', () => {
      this.dirty = true;
    });

    this.grids = null; // showGrids()

    const lut = new THREE.DataTexture(turboLut(), LUT_SIZE, 1, THREE.RGBAFormat);
    lut.magFilter = THREE.LinearFilter;
    lut.needsUpdate = true;
    this.material = new THREE.ShaderMaterial({
      vertexShader,
      fragmentShader,
      uniforms: {
        pointSize: { value: 2.0 * window.devicePixelRatio },
        colorMode: { value: ColorMode.intensity },
        hasColour: { value: false },
        valueMin: { value: 0 },
        valueMax: { value: 1 },
        fade: { value: 1 },
        background: { value: new THREE.Color(BACKGROUND) },
        lut: { value: lut },
      },
    });
    this.trail = new Trail(this.scene, this.material);
    this.markers = new THREE.Group();
    this.scene.add(this.markers);
    this.allocate(capacity);
  }

  allocate(capacity) {
    if (this.points) {
      this.scene.remove(this.points);
      this.points.geometry.dispose();
    }
    this.capacity = capacity;
    this.buffers = [0, 1, 2].map(() => new Float32Array(capacity * 4).fill(-1));
    this.colourBuffers = [0, 1, 2].map(() => new Uint8Array(capacity * 3));
    this.pendingFrame = null;
    this.shown = 0; // index of the buffer on screen
    this.interleaved = new THREE.InterleavedBuffer(this.buffers[0], 4);
    this.interleaved.setUsage(THREE.DynamicDrawUsage);
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute('position', new THREE.InterleavedBufferAttribute(this.interleaved, 3, 0));
    geometry.setAttribute('intensity', new THREE.InterleavedBufferAttribute(this.interleaved, 1, 3));
    this.rgb = new THREE.BufferAttribute(this.colourBuffers[0], 3, true); // bytes, read as 0..1
    this.rgb.setUsage(THREE.DynamicDrawUsage);
    geometry.setAttribute('rgb', this.rgb);
    geometry.setDrawRange(0, 0);
    geometry.boundingSphere = new THREE.Sphere(new THREE.Vector3(), 1e4); // never culled
    this.points = new THREE.Points(geometry, this.material);
    this.points.frustumCulled = false;
    this.scene.add(this.points);
    this.shownFrame = null;
  }

  /**
   * Add the ground grids (once). Not in the constructor: their line program's compile, 100–150 ms of the
   * main thread under software rendering, would come before the first frame's chunks are decoded; the page
   * shows them once the first frame is on screen (or after a while without one).
   */
  showGrids() {
    if (this.grids) return;
    const grid = new THREE.GridHelper(200, 40, 0x2d3340, 0x1b2029);
    grid.rotation.x = Math.PI / 2;
    grid.position.z = -1.73;
    const polar = new THREE.PolarGridHelper(80, 8, 8, 64, 0x2a3a55, 0x1d2636);
    polar.rotation.x = Math.PI / 2;
    polar.position.z = -1.72;
    this.grids = new THREE.Group().add(grid, polar);
    this.scene.add(this.grids);
    this.dirty = true;
  }

  /** A cleared buffer for the next frame (neither on screen nor waiting); grows for larger frames. */
  bufferFor(framePoints) {
    if (framePoints > this.capacity) this.allocate(Math.ceil(framePoints * 1.25));
    const waiting = this.pendingFrame ? this.pendingFrame.points : null;
    const buffer = this.buffers.find((b, i) => i !== this.shown && b !== waiting);
    buffer.fill(-1, 0, framePoints * 4);
    return buffer;
  }

  /** The colour buffer that goes with the frame buffer ``points`` (from bufferFor); a spare one for a frame
   * whose buffer was let go when the scene grew (that frame is never shown). */
  coloursFor(points) {
    const index = this.buffers.indexOf(points);
    return index >= 0 ? this.colourBuffers[index] : new Uint8Array(this.capacity * 3);
  }

  /** Show a finished frame at the next render. */
  present(frame) {
    this.pendingFrame = frame;
  }

  /** Render if anything changed; returns the frame that became visible in this call, if any. */
  render() {
    this.tick();
    const frame = this.pendingFrame;
    if (!frame && !this.dirty) return null;
    this.dirty = false;
    const index = frame ? this.buffers.indexOf(frame.points) : -1;
    if (index >= 0) {
      const leaving = this.shownFrame;
      if (leaving) this.trail.keep(leaving.points, leaving.colours, leaving.framePoints, leaving.captureTime);
      this.trailShown = this.trail.age(frame.captureTime);
      this.shownFrame = frame;
      this.shown = index;
      this.interleaved.array = frame.points;
      this.interleaved.needsUpdate = true;
      this.material.uniforms.hasColour.value = frame.colours !== null;
      if (frame.colours) {
        this.rgb.array = frame.colours;
        this.rgb.needsUpdate = true;
      }
      this.points.geometry.setDrawRange(0, frame.framePoints);
    }
    this.pendingFrame = null;
    this.renderer.render(this.scene, this.camera);
    this.renders += 1;
    return frame;
  }

  setColorMode(name) {
    this.material.uniforms.colorMode.value = ColorMode[name] ?? 0;
    this.dirty = true;
  }

  /** The values the colour map spans, lowest to highest. */
  setColourRange(lo, hi) {
    this.material.uniforms.valueMin.value = lo;
    this.material.uniforms.valueMax.value = hi;
    this.dirty = true;
  }

  /** Keep older frames on screen this many seconds, fading (0: off). */
  setDecay(seconds) {
    this.trail.setDecay(seconds);
    if (this.shownFrame) this.trailShown = this.trail.age(this.shownFrame.captureTime);
    this.dirty = true;
  }

  /** Move the camera to a preset view (VIEWS), or to ``{position, target}``; orbit keeps turning until moved. */
  setView(view) {
    const v = typeof view === 'string' ? VIEWS[view] : view;
    if (!v) throw new RangeError(`unknown view ${view}`);
    this.camera.position.set(...v.position);
    this.controls.target.set(...v.target);
    this.controls.autoRotate = Boolean(v.autoRotate);
    this.controls.update();
    this.dirty = true;
  }

  /** Where the camera is and looks, rounded to the millimetre (settings.js keeps it). */
  get view() {
    const r = (v) => v.toArray().map((x) => Math.round(x * 1000) / 1000);
    return { position: r(this.camera.position), target: r(this.controls.target) };
  }

  /** Per animation frame: an orbiting camera moves by itself. */
  tick() {
    if (this.controls.autoRotate) this.controls.update();
  }

  /** The model-view-projection of the points (which sit at the origin, unrotated), for picking.js. */
  viewProjection() {
    this.camera.updateMatrixWorld();
    return new THREE.Matrix4().multiplyMatrices(this.camera.projectionMatrix, this.camera.matrixWorldInverse).elements;
  }

  /** Mark picked points ([{x, y, z}]) and join two with a line. */
  setMarkers(points) {
    for (const child of [...this.markers.children]) {
      this.markers.remove(child);
      child.geometry.dispose();
      child.material.dispose();
    }
    if (points.length) {
      const positions = new Float32Array(points.flatMap((p) => [p.x, p.y, p.z]));
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute('position', new THREE.BufferAttribute(positions, 3));
      const dots = new THREE.Points(geometry, new THREE.PointsMaterial({
        color: 0xffffff, size: 9, sizeAttenuation: false, depthTest: false,
      }));
      dots.renderOrder = 2;
      this.markers.add(dots);
      if (points.length === 2) {
        const line = new THREE.Line(geometry.clone(), new THREE.LineBasicMaterial({ color: 0xffffff, depthTest: false }));
        line.renderOrder = 2;
        this.markers.add(line);
      }
    }
    this.dirty = true;
  }

  /** The picture as a PNG: drawn now, and read before the browser may clear the drawing buffer. */
  screenshot() {
    this.renderer.render(this.scene, this.camera);
    return new Promise((resolve, reject) => {
      this.renderer.domElement.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('no picture'))), 'image/png');
    });
  }

  setPointSize(px) {
    this.material.uniforms.pointSize.value = px * window.devicePixelRatio;
    this.dirty = true;
  }

  onWindowResize() {
    const { clientWidth: w, clientHeight: h } = this.container;
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.renderer.setSize(w, h);
    this.dirty = true;
  }
}
