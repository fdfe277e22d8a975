// Package vision finds faces in a frame and names their emotions: BlazeFace
// (full-range) for detection and a FER2013 CNN for emotions, both run by ONNX
// Runtime, with pre- and post-processing that reproduce the reference
// implementation (Human on TensorFlow.js) step by step.
package vision

import (
	"errors"
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var runtimeState struct {
	sync.Mutex
	lib string
	err error
}

// ErrRuntimeMissing is returned when the ONNX Runtime library is not found.
var ErrRuntimeMissing = errors.New("ONNX Runtime library not found")

// InitRuntime loads the ONNX Runtime shared library once per process. ONNX
// Runtime's environment is process-global, so a second call with another
// library is an error rather than a silent no-op.
func InitRuntime(lib string) error {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	if runtimeState.lib != "" {
		if runtimeState.lib != lib {
			return fmt.Errorf("ONNX Runtime already loaded from %s; cannot switch to %s in the same process", runtimeState.lib, lib)
		}
		return runtimeState.err
	}
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("%w at %s: run `make setup` or `framecast models fetch`, or point --onnxruntime-lib / FRAMECAST_ONNXRUNTIME_LIB at a libonnxruntime.so (1.24 or newer)", ErrRuntimeMissing, lib)
	}
	ort.SetSharedLibraryPath(lib)
	err := ort.InitializeEnvironment(ort.WithLogLevelError())
	if err != nil {
		err = fmt.Errorf("load ONNX Runtime from %s: %w (framecast needs ONNX Runtime 1.24 or newer, C API v24)", lib, err)
	}
	runtimeState.lib, runtimeState.err = lib, err
	return err
}

// RuntimeVersion is the loaded ONNX Runtime's version, or "" before
// InitRuntime succeeded.
func RuntimeVersion() string {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	if runtimeState.lib == "" || runtimeState.err != nil {
		return ""
	}
	return ort.GetVersion()
}

// sessionOptions applies the thread and execution-provider settings.
func sessionOptions(o Config) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if o.Threads > 0 {
		if err := so.SetIntraOpNumThreads(o.Threads); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	// ONNX Runtime's pool threads spin for a while after each operator;
	// between frames that spinning steals the core from JPEG decoding and
	// the other engines of the process, so they sleep instead.
	if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		so.Destroy()
		return nil, err
	}
	// One operator at a time: these graphs are chains, so inter-op threads
	// would only add wake-ups.
	if err := so.SetInterOpNumThreads(1); err != nil {
		so.Destroy()
		return nil, err
	}
	switch o.Provider {
	case "", "cpu":
	case "cuda":
		cuda, err := ort.NewCUDAProviderOptions()
		if err != nil {
			so.Destroy()
			return nil, fmt.Errorf("CUDA execution provider: %w (use an ONNX Runtime GPU build via --onnxruntime-lib)", err)
		}
		defer cuda.Destroy()
		if err := so.AppendExecutionProviderCUDA(cuda); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("CUDA execution provider: %w (use an ONNX Runtime GPU build via --onnxruntime-lib)", err)
		}
	default:
		so.Destroy()
		return nil, fmt.Errorf("unknown execution provider %q: use cpu or cuda", o.Provider)
	}
	return so, nil
}
