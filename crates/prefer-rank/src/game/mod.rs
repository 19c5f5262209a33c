//! Tabular preference games: solvers for the Nash equilibrium (minimax winner) of the
//! two-player constant-sum game a preference matrix defines.
