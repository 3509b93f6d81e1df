;;; meshls-test.el --- what the Emacs tests of meshls share  -*- lexical-binding: t -*-

;; Loaded by the scripts beside it (fix-with-agent.el, js-mode-typescript.el),
;; which tests/tests/emacs.rs runs as `emacs --batch -Q -l SCRIPT'.  It
;; makes batch Emacs behave as an interactive one where eglot needs it
;; (idle timers, post-command hooks), refuses any prompt a script did not
;; expect, answers meshls's trust question "Not now", keeps every
;; `window/showMessage', and writes what a script recorded to
;; MESHLS_TEST_RESULT as JSON.  Loading it loads eglot, or exits 3.

;;; Code:

(require 'cl-lib)
(require 'json)
(require 'subr-x)

(defconst meshls-test-timeout 60
  "Seconds any one step may take.  A guard against hangs, not a measure.")

(defvar meshls-test-name "meshls-test"
  "The script's name, for its progress lines.")

(defvar meshls-test-result nil
  "What was seen so far: an alist written to MESHLS_TEST_RESULT as JSON.")

(defvar meshls-test-buffer nil
  "The buffer of the file under test.")

(defvar meshls-test-messages nil
  "Every `window/showMessage' meshls sent, newest first.")

(defvar meshls-test-choose nil
  "When non-nil, answers the one `completing-read' the test expects.
A function: it gets the candidates and returns the one to pick.  Any
other prompt is an error: in batch Emacs it would read stdin and hang or
fail obscurely.")

;;; Reporting

(defun meshls-test-log (format-string &rest args)
  "Print a progress line to stderr."
  (princ (concat "[" meshls-test-name "] " (apply #'format format-string args) "\n")
         #'external-debugging-output))

(defun meshls-test-record (key value)
  "Record VALUE under KEY in the result."
  (setf (alist-get key meshls-test-result) value))

(defun meshls-test-write-result ()
  "Write the result file."
  (let ((json-encoding-pretty-print t))
    (with-temp-file (getenv "MESHLS_TEST_RESULT")
      (insert (json-encode (reverse meshls-test-result))))))

(defun meshls-test-buffer-tail (buffer-or-name chars)
  "The last CHARS characters of BUFFER-OR-NAME, or nil."
  (when-let ((buffer (get-buffer buffer-or-name)))
    (with-current-buffer buffer
      (buffer-substring-no-properties (max (point-min) (- (point-max) chars))
                                      (point-max)))))

(defun meshls-test-fail (format-string &rest args)
  "Record the failure, with eglot's logs, write the result and exit 1."
  (let ((why (apply #'format format-string args))
        (server (and (buffer-live-p meshls-test-buffer)
                     (with-current-buffer meshls-test-buffer
                       (eglot-current-server)))))
    (meshls-test-log "FAILED: %s" why)
    (meshls-test-record 'error why)
    (meshls-test-record 'messages (vconcat (reverse meshls-test-messages)))
    (when (buffer-live-p meshls-test-buffer)
      (meshls-test-record 'buffer_text
                          (with-current-buffer meshls-test-buffer
                            (buffer-substring-no-properties (point-min) (point-max)))))
    (when server
      ;; The JSON-RPC exchange and meshls's own log lines.
      (meshls-test-record 'events (meshls-test-buffer-tail
                                   (jsonrpc-events-buffer server) 20000))
      (meshls-test-record 'stderr (meshls-test-buffer-tail
                                   (jsonrpc-stderr-buffer server) 8000)))
    (meshls-test-write-result)
    (kill-emacs 1)))

;;; Being an interactive Emacs, in batch

(defun meshls-test-refuse-prompt (&rest args)
  "Fail loudly instead of prompting: nothing in this test should ask."
  (meshls-test-fail "an unexpected prompt: %S" args))

(dolist (prompt '(y-or-n-p yes-or-no-p read-string read-from-minibuffer
                           read-shell-command read-number))
  (advice-add prompt :override #'meshls-test-refuse-prompt))

(advice-add 'completing-read :override
            (lambda (prompt collection &rest _)
              (cond
               ;; meshls asks once whether to trust the workspace: this
               ;; user says not now, and its servers stay in safe mode.
               ((string-match-p "is not trusted" prompt)
                (meshls-test-record 'trust_question
                                    (vconcat (all-completions "" collection)))
                "Not now")
               (meshls-test-choose
                (funcall meshls-test-choose (all-completions "" collection)))
               (t (meshls-test-refuse-prompt prompt)))))

(defun meshls-test-idle ()
  "Run the one-shot idle timers, as Emacs does once the user stops typing.
Batch Emacs reads no input, so it never becomes idle by itself, yet eglot
sends `textDocument/didChange' and Flymake starts its checks from idle
timers.  Repeating idle timers (eldoc, show-paren) are left alone."
  (dolist (timer (copy-sequence timer-idle-list))
    (unless (timer--repeat-delay timer)
      (timer-event-handler timer))))

(defun meshls-test-tick ()
  "One turn of the command loop: what runs after a command, then idleness.
`eglot-ensure' connects and Flymake starts from `post-command-hook'."
  (with-current-buffer meshls-test-buffer
    (run-hooks 'post-command-hook)
    (meshls-test-idle))
  (accept-process-output nil 0.1))

(defun meshls-test-wait (what predicate)
  "Tick until PREDICATE returns non-nil, and return that; fail after the timeout.
WHAT names what is awaited, for the failure message."
  (meshls-test-log "waiting for %s" what)
  (let ((deadline (+ (float-time) meshls-test-timeout))
        (value nil))
    (while (not (setq value (with-current-buffer meshls-test-buffer
                              (funcall predicate))))
      (when (> (float-time) deadline)
        (meshls-test-fail "timed out after %s s waiting for %s"
                          meshls-test-timeout what))
      (meshls-test-tick))
    value))

;;; The user's configuration: this is what editors/emacs.md documents

(defun meshls-test-load-eglot ()
  "Load eglot: built in from Emacs 29, Debian's elpa-eglot package on 28.
-Q leaves the system's site-lisp (where Debian puts it) out of `load-path'."
  (unless (require 'eglot nil t)
    (require 'package)
    (setq package-directory-list '("/usr/share/emacs/site-lisp/elpa")
          package-user-dir (make-temp-file "meshls-test-elpa" t))
    (package-initialize)
    (unless (require 'eglot nil t)
      (princ "eglot is not installed: install Debian's emacs-nox and elpa-eglot (tests/run.sh does)\n"
             #'external-debugging-output)
      (kill-emacs 3))))

(meshls-test-load-eglot)

;; Running meshls's commands, as editors/emacs.md shows it.
(defun meshls-command (command &rest arguments)
  "Run meshls's COMMAND with ARGUMENTS."
  (eglot-execute-command (eglot--current-server-or-lose) command
                         (vconcat arguments)))

;; Keep every `window/showMessage' (eglot also prints them to stderr).
(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql window/showMessage)) &key message &allow-other-keys)
  (push message meshls-test-messages))

;;; Looking at the buffer

(defun meshls-test-flymake-texts ()
  "The current buffer's Flymake diagnostics: (LINE . TEXT) each."
  (mapcar (lambda (diag)
            (cons (line-number-at-pos (flymake-diagnostic-beg diag))
                  (flymake-diagnostic-text diag)))
          (flymake-diagnostics)))

(defun meshls-test-type-error ()
  "TypeScript's \"not assignable\" diagnostic on line 1, from Flymake, or nil.
The fixture's src/main.ts has it."
  (cl-find-if (lambda (diag)
                (and (= 1 (line-number-at-pos (flymake-diagnostic-beg diag)))
                     (string-match-p "not assignable" (flymake-diagnostic-text diag))))
              (flymake-diagnostics)))

(defun meshls-test-process-tree (pid)
  "PID and its descendant processes, as ((PID . COMMAND-LINE) ...)."
  (let ((children (make-hash-table)))
    (dolist (other (list-system-processes))
      (when-let ((ppid (alist-get 'ppid (process-attributes other))))
        (push other (gethash ppid children))))
    (cl-labels ((args (pid)
                  (let ((attributes (process-attributes pid)))
                    (or (alist-get 'args attributes) (alist-get 'comm attributes) "")))
                (below (parent)
                  (cl-loop for child in (gethash parent children)
                           collect (cons child (args child))
                           append (below child))))
      (cons (cons pid (args pid)) (below pid)))))

(defun meshls-test-main (steps)
  "Run STEPS, write the result and exit: 0 when every step happened."
  (condition-case err
      (progn
        (funcall steps)
        (meshls-test-write-result)
        (meshls-test-log "done")
        (kill-emacs 0))
    (error (meshls-test-fail "error: %S" err))))

(provide 'meshls-test)

;;; meshls-test.el ends here
