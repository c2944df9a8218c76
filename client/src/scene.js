// three.js scene: preallocated interleaved buffers (x, y, z, intensity per point): one on screen,
// one finished and waiting for the next render, one being filled by the decoder; beside each, a colour
// buffer (r, g, b bytes per point) for frames whose source has colours.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

export const ColorMode = Object.freeze({ intensity: 0, height: 1, range: 2, source: 3 });

const vertexShader = /* glsl */ `
  attribute float intensity;
  attribute vec3 rgb;
  uniform float pointSize;
  uniform int colorMode;
  uniform bool hasColour;
  uniform float rangeMax;
  varying vec3 vColor;

  // blue -> cyan -> green -> yellow -> red
  vec3 ramp(float v) {
    v = clamp(v, 0.0, 1.0);
    vec3 c = vec3(0.0);
    c.r = smoothstep(0.5, 0.8, v);
    c.g = v < 0.8 ? smoothstep(0.1, 0.4, v) : 1.0 - smoothstep(0.8, 1.0, v) * 0.9;
    c.b = 1.0 - smoothstep(0.3, 0.55, v);
    return mix(vec3(0.15, 0.2, 0.9) * 0.6, c, 0.3 + 0.7 * v);
  }

  void main() {
    if (intensity < 0.0) {  // a point of a lost chunk: push it outside the clip volume
      gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
      gl_PointSize = 0.0;
      return;
    }
    float v;
    if (colorMode == 1) v = (position.z + 2.0) / 6.0;
    else if (colorMode == 2) v = length(position) / rangeMax;
    else v = sqrt(intensity);  // intensity, and the source's colour where it has none
    vColor = colorMode == 3 && hasColour ? rgb : ramp(v);
    gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
    gl_PointSize = pointSize;
  }
`;

const fragmentShader = /* glsl */ `
  varying vec3 vColor;
  void main() { gl_FragColor = vec4(vColor, 1.0); }
`;

export class PointScene {
  /** @param {HTMLElement} container */
  constructor(container, { capacity = 131072 } = {}) {
    /** Times the scene was drawn (a frame, a colour change, a camera move). */
    this.renders = 0;
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: false });
    this.renderer.setPixelRatio(window.devicePixelRatio);
    this.renderer.setSize(container.clientWidth, container.clientHeight);
    container.appendChild(this.renderer.domElement);

    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x0b0d12);
    this.camera = new THREE.PerspectiveCamera(60, container.clientWidth / container.clientHeight, 0.1, 1000);
    this.camera.up.set(0, 0, 1); // LiDAR frame: z up
    this.camera.position.set(-28, -6, 22);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.set(6, 0, -1.7);
    this.controls.update();
    // render on demand: a software-rendered (or battery-powered) viewer should not redraw
    // 120k points 60 times a second when the picture changes 10 times a second
    this.dirty = true;
    this.controls.addEventListener('change', () => {
      this.dirty = true;
    });

    const grid = new THREE.GridHelper(200, 40, 0x2d3340, 0x1b2029);
    grid.rotation.x = Math.PI / 2;
    grid.position.z = -1.73;
    this.scene.add(grid);
    const polar = new THREE.PolarGridHelper(80, 8, 8, 64, 0x2a3a55, 0x1d2636);
    polar.rotation.x = Math.PI / 2;
    polar.position.z = -1.72;
    this.scene.add(polar);

    this.material = new THREE.ShaderMaterial({
      vertexShader,
      fragmentShader,
      uniforms: {
        pointSize: { value: 2.0 * window.devicePixelRatio },
        colorMode: { value: ColorMode.intensity },
        hasColour: { value: false },
        rangeMax: { value: 60.0 },
      },
    });
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
    const frame = this.pendingFrame;
    if (!frame && !this.dirty) return null;
    this.dirty = false;
    const index = frame ? this.buffers.indexOf(frame.points) : -1;
    if (index >= 0) {
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
