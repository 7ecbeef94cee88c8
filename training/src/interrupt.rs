//! Ctrl-C for long waits, listened for from the moment the listener is made.
//!
//! A fresh `tokio::signal::ctrl_c()` per poll round misses a Ctrl-C pressed while a request is
//! in flight (tokio's handler is installed by then, so the process does not die either: the
//! key press is simply lost). One listener kept across the rounds sees every press.

/// A Ctrl-C listener.
pub struct Interrupt {
    source: Source,
}

enum Source {
    #[cfg(unix)]
    Signal(tokio::signal::unix::Signal),
    #[cfg(not(unix))]
    CtrlC,
    /// Presses sent by a test.
    #[cfg(test)]
    Channel(tokio::sync::mpsc::UnboundedReceiver<()>),
}

impl Interrupt {
    pub fn new() -> std::io::Result<Interrupt> {
        #[cfg(unix)]
        let source = Source::Signal(tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::interrupt(),
        )?);
        #[cfg(not(unix))]
        let source = Source::CtrlC;
        Ok(Interrupt { source })
    }

    /// A listener that hears the presses sent on the returned channel.
    #[cfg(test)]
    pub fn for_test() -> (Interrupt, tokio::sync::mpsc::UnboundedSender<()>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (
            Interrupt {
                source: Source::Channel(rx),
            },
            tx,
        )
    }

    /// From now on, a Ctrl-C ends the process (exit status 130). Once tokio has installed its
    /// SIGINT handler the default action never comes back, so a command that listened once
    /// must do this for the rest of its work to stay interruptible.
    pub fn exit_on_next(mut self) {
        tokio::spawn(async move {
            self.recv().await;
            eprintln!("interrupted");
            std::process::exit(130);
        });
    }

    /// Resolves at the next Ctrl-C (or one pressed since the last call).
    pub async fn recv(&mut self) {
        match &mut self.source {
            #[cfg(unix)]
            Source::Signal(s) => {
                s.recv().await;
            }
            #[cfg(not(unix))]
            Source::CtrlC => {
                let _ = tokio::signal::ctrl_c().await;
            }
            #[cfg(test)]
            Source::Channel(rx) => {
                if rx.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}
