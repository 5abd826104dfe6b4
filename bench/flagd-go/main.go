// flagd's own Go evaluator (github.com/open-feature/flagd/core, the engine inside the flagd daemon)
// behind a plain net/http server speaking OFREP's single and bulk evaluation, for `npm run
// bench:http` to measure beside ours. The daemon itself (github.com/open-feature/flagd/flagd) is not
// served by the Go module proxy reachable here; its core module is, so this is the nearest flagd
// that can be built: the same flag format, JSONLogic targeting and resolution, in Go, without the
// daemon's sync sources, metrics or telemetry. One process using every core (Go's scheduler).
// Usage: flagd-evaluator-ofrep-server <flags.json> <port>; prints "listening" once it accepts.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/open-feature/flagd/core/pkg/evaluator"
	"github.com/open-feature/flagd/core/pkg/logger"
	"github.com/open-feature/flagd/core/pkg/model"
	"github.com/open-feature/flagd/core/pkg/store"
	"github.com/open-feature/flagd/core/pkg/sync"
	"go.uber.org/zap"
)

const singlePrefix = "/ofrep/v1/evaluate/flags/"

type request struct {
	Context map[string]any `json:"context"`
}

type success struct {
	Key      string         `json:"key"`
	Value    any            `json:"value"`
	Reason   string         `json:"reason"`
	Variant  string         `json:"variant"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

type failure struct {
	Key          string `json:"key"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

func send(w http.ResponseWriter, status int, body any) {
	encoded, err := json.Marshal(body)
	if err != nil {
		status, encoded = http.StatusInternalServerError, []byte(`{"errorCode":"GENERAL"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(encoded)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: flagd-evaluator-ofrep-server <flags.json> <port>")
		os.Exit(2)
	}
	flags, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log := logger.NewLogger(zap.NewNop(), false)
	flagd := evaluator.NewJSON(log, store.NewFlags())
	if _, _, err := flagd.SetState(sync.DataSync{FlagData: string(flags), Source: "bench"}); err != nil {
		fmt.Fprintln(os.Stderr, "the flag set does not load:", err)
		os.Exit(1)
	}

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var body request
		if r.Method != http.MethodPost {
			send(w, http.StatusNotFound, failure{ErrorCode: "GENERAL", ErrorDetails: "not found"})
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			send(w, http.StatusBadRequest, failure{ErrorCode: model.ParseErrorCode, ErrorDetails: "the body is not JSON"})
			return
		}
		if body.Context == nil {
			body.Context = map[string]any{}
		}
		switch {
		case strings.HasPrefix(r.URL.Path, singlePrefix):
			key := strings.TrimPrefix(r.URL.Path, singlePrefix)
			result := flagd.ResolveAsAnyValue(r.Context(), "", key, body.Context)
			if result.Error != nil {
				status := http.StatusBadRequest
				if result.Error.Error() == model.FlagNotFoundErrorCode {
					status = http.StatusNotFound
				}
				send(w, status, failure{Key: key, ErrorCode: result.Error.Error(), ErrorDetails: result.Reason})
				return
			}
			send(w, http.StatusOK, success{Key: key, Value: result.Value, Reason: result.Reason, Variant: result.Variant, Metadata: result.Metadata})
		case r.URL.Path == "/ofrep/v1/evaluate/flags":
			values, _, err := flagd.ResolveAllValues(r.Context(), "", body.Context)
			if err != nil {
				send(w, http.StatusBadRequest, failure{ErrorCode: "GENERAL", ErrorDetails: err.Error()})
				return
			}
			out := make([]success, 0, len(values))
			for _, value := range values {
				if value.Error == nil {
					out = append(out, success{Key: value.FlagKey, Value: value.Value, Reason: value.Reason, Variant: value.Variant, Metadata: value.Metadata})
				}
			}
			send(w, http.StatusOK, map[string]any{"flags": out})
		default:
			send(w, http.StatusNotFound, failure{ErrorCode: "GENERAL", ErrorDetails: "not found"})
		}
	})
	listener, err := net.Listen("tcp", "127.0.0.1:"+os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening")
	if err := http.Serve(listener, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
