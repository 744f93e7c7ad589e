package messaging

import (
	"context"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MediaFile is a message's media, cached on the API's disk.
type MediaFile struct {
	// Path is the cached file.
	Path     string
	Mimetype string
	// Filename is a name to offer for download.
	Filename string
}

// Media returns a message's media. Bytes come from the local cache
// (WAGATE_MEDIA_DIR), else from the database (outgoing media, or inbound
// media downloaded before, possibly by another API process); inbound media
// never downloaded is requested from the session worker through a
// session.downloadMedia command and waited for (ServiceConfig.MediaWait).
// The API never talks to WhatsApp itself, so this works with the worker in
// another process.
func (s *Service) Media(ctx context.Context, tenantID, sessionID, id string) (MediaFile, error) {
	m, err := s.Message(ctx, tenantID, sessionID, id)
	if err != nil {
		return MediaFile{}, err
	}
	if !isMedia(m.Type) {
		return MediaFile{}, ErrNoMedia
	}
	f := MediaFile{
		Path:     filepath.Join(s.cfg.MediaDir, pathSafe(tenantID), pathSafe(sessionID), m.ID),
		Mimetype: m.Content.Mimetype,
		Filename: mediaFilename(m),
	}
	if f.Mimetype == "" {
		f.Mimetype = "application/octet-stream"
	}
	if _, err := os.Stat(f.Path); err == nil {
		return f, nil
	}

	rec, ok, err := s.store.media(ctx, tenantID, m.ID, false)
	if err != nil {
		return MediaFile{}, err
	}
	if !ok || rec.state != mediaReady {
		if m.Status == StatusPending {
			// Outgoing media given by URL is fetched when it is sent.
			return MediaFile{}, ErrMediaPending
		}
		if rec, err = s.awaitDownload(ctx, tenantID, sessionID, m.ID, rec, ok); err != nil {
			return MediaFile{}, err
		}
	}
	rec, _, err = s.store.media(ctx, tenantID, m.ID, true)
	if err != nil {
		return MediaFile{}, err
	}
	if rec.mimetype != "" {
		f.Mimetype = rec.mimetype
	}
	if err := writeFileAtomic(f.Path, rec.data); err != nil {
		return MediaFile{}, err
	}
	return f, nil
}

// awaitDownload asks the worker for a download (unless one is in flight)
// and polls the database until it is ready, failed, or MediaWait passes.
func (s *Service) awaitDownload(ctx context.Context, tenantID, sessionID, id string, rec mediaRecord, exists bool) (mediaRecord, error) {
	now := s.cfg.Now()
	if !exists || rec.state == mediaFailed || rec.state == mediaRequested {
		// A request older than two waits has been lost (its worker died).
		stale := now.Add(-2 * s.cfg.MediaWait).UnixMilli()
		if err := s.store.requestMedia(ctx, tenantID, sessionID, id, stale); err != nil {
			return mediaRecord{}, err
		}
	}
	wait, cancel := context.WithTimeout(ctx, s.cfg.MediaWait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		rec, ok, err := s.store.media(wait, tenantID, id, false)
		if err != nil && wait.Err() == nil {
			return mediaRecord{}, err
		}
		switch {
		case ok && rec.state == mediaReady:
			return rec, nil
		case ok && rec.state == mediaFailed:
			return mediaRecord{}, ErrMediaUnavailable.WithMessage("the media could not be downloaded: %s", rec.errText)
		}
		select {
		case <-wait.Done():
			if ctx.Err() != nil {
				return mediaRecord{}, ctx.Err()
			}
			return mediaRecord{}, ErrMediaPending
		case <-tick.C:
		}
	}
}

func mediaFilename(m Message) string {
	if m.Content.Filename != "" {
		return m.Content.Filename
	}
	ext := ""
	if exts, _ := mime.ExtensionsByType(m.Content.Mimetype); len(exts) > 0 {
		ext = exts[0]
	}
	return string(m.Type) + "-" + m.ID + ext
}

// pathSafe turns an id into one path element.
func pathSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if s == "" {
		return "_"
	}
	return s
}

// writeFileAtomic writes through a temporary file and a rename, so a
// concurrent reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create media cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".media-*")
	if err != nil {
		return fmt.Errorf("cache media: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("cache media: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cache media: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cache media: %w", err)
	}
	return nil
}
